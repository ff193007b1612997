# Airflow 3 image with the project's locked dependencies and code, for docker-compose.yaml.
# The Airflow version must be the one pinned in pyproject.toml (tests/test_compose.py checks it).
FROM apache/airflow:3.3.2-python3.11

# Directories that named volumes mount on must exist in the image, owned by airflow: Docker
# initialises an empty named volume with the owner of the directory it is mounted on.
USER root
RUN install -d -o airflow -g 0 -m 2775 /opt/commune /opt/commune/data /opt/commune/data/warehouse \
        /opt/airflow/auth
USER airflow
WORKDIR /opt/commune

# uv as the project pins it (the image's own uv may not read this lock file's format). The image's
# Python is a virtualenv (VIRTUAL_ENV=/home/airflow/.local), which `uv pip` installs into.
RUN pip install --no-cache-dir "uv==0.13.9"
COPY --chown=airflow:0 pyproject.toml uv.lock README.md ./
COPY --chown=airflow:0 include ./include
# Exactly what uv.lock pins (Airflow itself included), then the project, editable, so that its
# settings find dags/, dbt_project/ and expectations/ beside include/.
RUN uv export --frozen --no-dev --no-emit-project --format requirements-txt -o /tmp/requirements.txt \
 && uv pip install --no-cache -r /tmp/requirements.txt \
 && uv pip install --no-cache --no-deps -e . \
 && rm /tmp/requirements.txt
COPY --chown=airflow:0 dags ./dags
COPY --chown=airflow:0 dbt_project ./dbt_project
COPY --chown=airflow:0 expectations ./expectations

# Fail the build, not the first night, when the layout the code expects is not there.
RUN python -c "from commune_dx.settings import DBT_PROJECT_DIR, EXPECTATIONS_DIR; \
assert DBT_PROJECT_DIR.is_dir() and EXPECTATIONS_DIR.is_dir(), 'dbt_project/ or expectations/ missing'; \
import commune_dx.building, commune_dx.validation"
