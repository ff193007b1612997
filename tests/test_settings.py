"""Configuration in one place (``commune_dx.settings``): the env-file reader, the settings a
deployment changes through environment variables, their defaults, and the errors that name a bad
value."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from commune_dx.settings import FORMS_DIR, REPO_ROOT, Settings, read_env_file, worker_hostname

SETTINGS_ENV = ("WAREHOUSE_DIR", "COMMUNE_UNITS_PER_BATCH", "COMMUNE_UNIT_MAX_SECONDS",
                "COMMUNE_NOTIFY_EMAILS", "COMMUNE_RETENTION_DAYS", "COMMUNE_SCHEDULE", "COMMUNE_PULL_QUEUE",
                "COMMUNE_WORKER_HOSTNAME")


@pytest.fixture()
def clean_env(monkeypatch):
    for name in SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_env_file_reader_takes_key_value_lines_and_names_a_bad_one(tmp_path: Path):
    env = tmp_path / "airflow.env"
    env.write_text("# a comment\n\nAIRFLOW__CORE__LOAD_EXAMPLES = False\nEMPTY=\nURL=http://x/?a=b\n",
                   encoding="utf-8")
    assert read_env_file(env) == {"AIRFLOW__CORE__LOAD_EXAMPLES": "False", "EMPTY": "", "URL": "http://x/?a=b"}
    env.write_text("GOOD=1\nexport BAD=2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{env}:2: expected KEY=VALUE"):
        read_env_file(env)


def test_defaults_put_the_warehouse_in_the_repository(clean_env):
    settings = Settings.from_env()
    assert settings.warehouse_dir == REPO_ROOT / "data" / "warehouse"
    assert (settings.units_per_batch, settings.schedule, settings.notify_emails) == (1000, "0 1 * * *", ())
    assert settings.pull_budget.max_seconds == 900.0
    assert (REPO_ROOT / "include" / "commune_dx" / "contract" / "forms") == FORMS_DIR and FORMS_DIR.is_dir()


def test_the_environment_changes_the_settings(clean_env, tmp_path: Path):
    clean_env.setenv("WAREHOUSE_DIR", str(tmp_path / "wh" / ".." / "warehouse"))
    clean_env.setenv("COMMUNE_UNITS_PER_BATCH", "25")
    clean_env.setenv("COMMUNE_UNIT_MAX_SECONDS", "2.5")
    clean_env.setenv("COMMUNE_NOTIFY_EMAILS", " ops@province.example, ,it@province.example ")
    clean_env.setenv("COMMUNE_SCHEDULE", "30 2 * * *")
    clean_env.setenv("COMMUNE_PULL_QUEUE", "")  # empty: the default
    settings = Settings.from_env()
    assert settings.warehouse_dir == tmp_path / "warehouse"  # resolved
    assert (settings.working_db, settings.serving_db) == (tmp_path / "warehouse" / "warehouse.duckdb",
                                                         tmp_path / "warehouse" / "serving.duckdb")
    assert settings.units_per_batch == 25 and settings.pull_budget.max_seconds == 2.5
    assert settings.notify_emails == ("ops@province.example", "it@province.example")
    assert (settings.schedule, settings.pull_queue) == ("30 2 * * *", "default")


@pytest.mark.parametrize(("name", "value", "message"), [
    ("COMMUNE_UNITS_PER_BATCH", "many", "COMMUNE_UNITS_PER_BATCH='many' must be an integer"),
    ("COMMUNE_UNIT_MAX_SECONDS", "soon", "COMMUNE_UNIT_MAX_SECONDS='soon' must be a number"),
    ("COMMUNE_RETENTION_DAYS", "-1", "COMMUNE_RETENTION_DAYS='-1' must be a finite number >= 0"),
    ("COMMUNE_RETENTION_DAYS", "inf", "COMMUNE_RETENTION_DAYS='inf' must be a finite number >= 0"),
])
def test_a_bad_value_is_named_with_what_it_must_be(clean_env, name, value, message):
    clean_env.setenv(name, value)
    with pytest.raises(ValueError) as raised:
        Settings.from_env()
    assert message in str(raised.value)


def test_a_worker_records_its_own_host_name_when_given_one(clean_env):
    assert worker_hostname() == socket.getfqdn()
    clean_env.setenv("COMMUNE_WORKER_HOSTNAME", "worker-b")
    assert worker_hostname() == "worker-b"
