# Airflow 3 image with the project's locked dependencies and code, for docker-compose.yaml.
FROM apache/airflow:3.3.2-python3.11

USER root
RUN pip install --no-cache-dir uv==0.13.9
USER airflow
WORKDIR /opt/commune
COPY --chown=airflow:root pyproject.toml uv.lock README.md ./
COPY --chown=airflow:root include ./include
# Install exactly what uv.lock pins into the image's Python (Airflow itself included).
RUN uv export --frozen --no-dev --no-emit-project --format requirements-txt > /tmp/requirements.txt \
 && uv pip install --no-cache --python "$(command -v python)" -r /tmp/requirements.txt \
 && uv pip install --no-cache --python "$(command -v python)" --no-deps -e .
COPY --chown=airflow:root dags ./dags
COPY --chown=airflow:root dbt_project ./dbt_project
COPY --chown=airflow:root expectations ./expectations
