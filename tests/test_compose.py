"""The production stack, checked statically: no Docker engine runs here or in CI.

``docker-compose.yaml`` must parse, run Airflow 3's four components with the LocalExecutor on
Postgres, reference only paths that exist and pinned images, and take every secret from the
environment: secrets with no default (``${VAR:?message}``; the demo's values in deploy/demo.env),
the rest with a default documented in its header. ``docker compose config`` runs too when a
Compose client is installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from commune_dx.settings import PORTAL_CONN_ID, PORTAL_POOL, REPO_ROOT

COMPOSE = REPO_ROOT / "docker-compose.yaml"
AIRFLOW_COMMANDS = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
}
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
DEMO_ENV = REPO_ROOT / "deploy" / "demo.env"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET|_KEY\b|_CONN\b|CONN_", re.I)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict[str, Any]]:
    return compose["services"]


def interpolate(value: str) -> str:
    """What Compose makes of ``value`` with deploy/demo.env only: its values, else every default,
    ``$$`` → ``$``."""
    from commune_dx.settings import read_env_file

    demo = read_env_file(DEMO_ENV)

    def value_of(match: re.Match) -> str:
        name, operator, default = match.groups()
        return demo[name] if name in demo else (default if operator and "-" in operator else "")

    return VARIABLE.sub(value_of, value.replace("$$", "\0")).replace("\0", "$")


def strings(node: Any) -> list[str]:
    """Every string in a parsed YAML tree."""
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in [str(key), *strings(value)]]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return [node] if isinstance(node, str) else []


def env(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    assert isinstance(environment, dict), "environment as a mapping, please"
    return {k: str(v) for k, v in environment.items()}


def command_text(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else str(command)


def test_the_airflow_3_components_run_with_the_local_executor_on_postgres(services):
    for name, command in AIRFLOW_COMMANDS.items():
        service = services[name]
        assert command_text(service) == command, name
        variables = env(service)
        assert interpolate(variables["AIRFLOW__CORE__EXECUTOR"]) == "LocalExecutor", name
        assert interpolate(variables["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).startswith(
            "postgresql+psycopg2://airflow:airflow@postgres/"), name
        assert interpolate(variables["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]) == (
            "http://airflow-apiserver:8080/execution/")
        assert variables["AIRFLOW__API_AUTH__JWT_SECRET"].startswith("${"), "one JWT secret for all"
        assert "postgres" in service["depends_on"]
        assert "healthcheck" in service, name
    assert services["postgres"]["image"].startswith("postgres:")


def test_the_init_service_migrates_and_creates_the_pool(services):
    init = services["airflow-init"]
    script = command_text(init)
    assert "airflow db migrate" in script
    assert f"airflow pools set {PORTAL_POOL} " in script
    assert init["restart"] == "no"
    for name in AIRFLOW_COMMANDS:
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"


def test_the_portal_connection_comes_from_the_environment(services):
    """No `airflow connections add`: every Airflow process gets AIRFLOW_CONN_COMMUNE_PORTAL."""
    assert "connections add" not in command_text(services["airflow-init"])
    for name in [*AIRFLOW_COMMANDS, "airflow-init"]:
        conn = json.loads(interpolate(env(services[name])[f"AIRFLOW_CONN_{PORTAL_CONN_ID.upper()}"]))
        assert conn == {"conn_type": "http", "host": "http://demo-portal:8765", "password": "demo-token"}
    assert services["demo-portal"]["profiles"] == ["demo"]


def test_build_contexts_and_bind_mounts_exist(services):
    for name, service in services.items():
        build = service.get("build")
        if build is not None:
            context = REPO_ROOT / (build if isinstance(build, str) else build.get("context", "."))
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            assert (context / dockerfile).is_file(), f"{name}: no {context / dockerfile}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith((".", "/")):
                assert (REPO_ROOT / source).exists(), f"{name}: bind mount {source} does not exist"


def test_named_volumes_and_dependencies_are_declared(compose, services):
    declared = set(compose["volumes"])
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name}: volume {source} is not declared"
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"


def test_images_are_pinned(services):
    for name, service in services.items():
        image = interpolate(service["image"])
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest", f"{name}: image {image} is not pinned"
        if "build" not in service:
            assert re.fullmatch(r"\d+(\.\d+)+", tag), f"{name}: third-party image {image} needs a version"


def test_dockerfiles_pin_their_base_images_and_copy_existing_paths():
    for dockerfile in (REPO_ROOT / "Dockerfile", REPO_ROOT / "deploy" / "superset" / "Dockerfile"):
        text = dockerfile.read_text(encoding="utf-8")
        base = re.search(r"^FROM (\S+)", text, re.M).group(1)
        assert re.fullmatch(r"apache/\w+:\d+\.\d+\.\d+(-python3\.\d+)?", base), base
        for sources in re.findall(r"^COPY (?:--\S+ )*(.+) \S+$", text, re.M):
            for source in sources.split():
                assert (dockerfile.parent / source).exists(), f"{dockerfile}: COPY {source}"


def test_the_airflow_image_matches_the_locked_airflow():
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pinned = next(d.split("==")[1] for d in pyproject["project"]["dependencies"]
                  if d.startswith("apache-airflow=="))
    python = pyproject["tool"]["ruff"]["target-version"].removeprefix("py")
    base = re.search(r"^FROM (\S+)", (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8"), re.M).group(1)
    assert base == f"apache/airflow:{pinned}-python{python[0]}.{python[1:]}"


def test_secrets_have_no_published_default_and_the_rest_documented_defaults(compose):
    from commune_dx.settings import read_env_file

    header = COMPOSE.read_text(encoding="utf-8").split("\nx-airflow-common")[0]
    documented = dict(re.findall(r"^#\s+([A-Z][A-Z0-9_]+)\s+(required|default \"[^\"]*\")", header, re.M))
    demo = read_env_file(DEMO_ENV)
    for text in strings(compose):
        for name, operator, default in VARIABLE.findall(text.replace("$$", "")):
            assert name in documented, f"${{{name}}} is not documented in the header"
            # The Fernet key may stay empty: no connection is stored in the metadata database.
            if (SECRET_NAME.search(name) or name == "PORTAL_URL") and name != "AIRFLOW_FERNET_KEY":
                assert operator == ":?" and name in default, f"{name}: a secret needs ${{{name}:?message}}"
                assert documented[name] == "required" and name in demo, name
            else:
                assert documented[name] == f"default {json.dumps(default)}", f"{name}: not as documented"
    for service in compose["services"].values():
        for key, value in env(service).items():
            if SECRET_NAME.search(key) and "AUTH_MANAGER" not in key:
                assert "${" in value, f"{key} is hard-coded"


def test_compose_refuses_to_start_without_the_secrets(tmp_path: Path):
    """Without .env or deploy/demo.env, `config` fails with the message naming what to set."""
    done = subprocess.run([*_compose_client(), "-f", str(COMPOSE), "config", "-q"], cwd=tmp_path,
                          env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "in .env, or --env-file deploy/demo.env for the demo" in done.stderr, done.stderr


def test_the_bi_service_reads_the_published_file_read_only(services):
    for name in ("superset", "superset-init"):
        service = services[name]
        assert service["profiles"] == ["bi"]
        assert "warehouse:/warehouse:ro" in service["volumes"]
        uri = env(service)["COMMUNE_MARTS_URI"]
        assert uri.startswith("duckdb:////warehouse/serving.duckdb?") and "access_mode=read_only" in uri
    requirements = (REPO_ROOT / "deploy" / "superset" / "requirements.txt").read_text(encoding="utf-8")
    pins = dict(re.findall(r"^([a-z0-9-]+)==(\S+)$", requirements, re.M))
    assert {"duckdb", "duckdb-engine", "psycopg2-binary"} <= set(pins)
    init = (REPO_ROOT / "deploy" / "superset" / "init-superset.sh").read_text(encoding="utf-8")
    assert 'set-database-uri --database_name "Commune marts (read-only)" --uri "${COMMUNE_MARTS_URI}"' in init


def test_ports_are_published_on_loopback_only(services):
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def _compose_client() -> list[str]:
    """``docker compose`` (v2 plugin) if installed, else Debian's ``docker-compose`` (v1.29, the
    Compose schema of its time); neither needs a Docker engine for ``config``."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    if os.environ.get("CI"):
        pytest.fail("no Docker Compose client; `make test` installs Debian's docker-compose")
    pytest.skip("no Docker Compose client (`make test` installs Debian's docker-compose)")


def test_docker_compose_config_accepts_the_file(tmp_path: Path):
    """The Compose implementation's own schema check, with the demo defaults, no engine needed."""
    client = _compose_client()
    done = subprocess.run(
        [*client, "-f", str(COMPOSE), "--env-file", str(DEMO_ENV), "--profile", "demo", "--profile", "bi",
         "--profile", "celery", "config", "-q"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr


def test_compose_reads_the_projects_airflow_settings_from_the_one_env_file(compose, services, tmp_path):
    """deploy/airflow.env is the single source: Compose reads it, no service overrides a key of it,
    and `docker compose config` resolves it into every Airflow component's environment."""
    from commune_dx.settings import AIRFLOW_ENV_FILE, read_env_file

    values = read_env_file()
    assert compose["x-airflow-common"]["env_file"] == str(AIRFLOW_ENV_FILE.relative_to(REPO_ROOT))
    for name in [*AIRFLOW_COMMANDS, "airflow-init"]:
        assert services[name]["env_file"] == "deploy/airflow.env", name
        assert not set(env(services[name])) & set(values), f"{name} overrides deploy/airflow.env"
    done = subprocess.run([*_compose_client(), "-f", str(COMPOSE), "--env-file", str(DEMO_ENV), "config"],
                          cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)["services"]
    for name in AIRFLOW_COMMANDS:
        environment = resolved[name]["environment"]
        for key, value in values.items():
            assert str(environment[key]) == value, (name, key)


def test_the_celery_profile_runs_two_workers_and_only_one_serves_the_warehouse_queue(services, tmp_path):
    """Profile celery: Redis and two workers under different host names; pulls on the queue both
    serve, the DuckDB steps on the queue only worker A serves; with AIRFLOW_EXECUTOR=CeleryExecutor
    the scheduler queues the tasks (resolved by `docker compose config`)."""
    from commune_dx.settings import Settings

    settings = Settings.from_env()
    served = {}
    for name in ("airflow-worker-a", "airflow-worker-b"):
        worker = services[name]
        assert worker["profiles"] == ["celery"], name
        command = worker["command"]
        assert command[:2] == ["celery", "worker"], name
        served[name] = set(command[command.index("--queues") + 1].split(","))
        assert command[command.index("--celery-hostname") + 1] == f"{name.removeprefix('airflow-')}@%h"
        variables = env(worker)
        assert variables["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert interpolate(variables["AIRFLOW__CELERY__BROKER_URL"]) == "redis://:demo-redis-password@redis:6379/0"
        assert "warehouse:/opt/commune/data/warehouse" in worker["volumes"], name
        assert worker["depends_on"]["redis"]["condition"] == "service_healthy", name
        assert "healthcheck" in worker, name
    assert services["airflow-worker-a"]["hostname"] != services["airflow-worker-b"]["hostname"]
    assert served == {"airflow-worker-a": {settings.pull_queue, settings.warehouse_queue},
                      "airflow-worker-b": {settings.pull_queue}}
    assert services["redis"]["profiles"] == ["celery"]
    assert re.fullmatch(r"redis:\d+(\.\d+)+", services["redis"]["image"])

    done = subprocess.run([*_compose_client(), "-f", str(COMPOSE), "--env-file", str(DEMO_ENV),
                           "--profile", "celery", "config"], cwd=tmp_path,
                          env={**os.environ, "AIRFLOW_EXECUTOR": "CeleryExecutor"},
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)["services"]
    for name in [*AIRFLOW_COMMANDS, "airflow-worker-a", "airflow-worker-b"]:
        assert resolved[name]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
