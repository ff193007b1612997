"""Shared fixtures: a real demo portal on loopback and helpers to run the real nightly DAG."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from commune_dx.cli import airflow_env
from commune_dx.demo_portal.server import start_demo_portal
from commune_dx.settings import REPO_ROOT


@pytest.fixture(scope="session")
def portal() -> Iterator[object]:
    """The bundled demo portal, serving on a free loopback port for the whole session."""
    running = start_demo_portal(host="127.0.0.1", port=0, token="test-token")
    yield running
    running.stop()


@dataclass
class NightResult:
    returncode: int
    output: str


def run_night_cli(
    as_of: str, warehouse: Path, connection: str | None, extra_env: dict[str, str] | None = None
) -> NightResult:
    """Run ``python -m commune_dx.cli night`` (the body of ``make night``) as a subprocess."""
    env = airflow_env()
    env["WAREHOUSE_DIR"] = str(warehouse)
    env.pop("AIRFLOW_CONN_COMMUNE_PORTAL", None)
    if connection is not None:
        env["AIRFLOW_CONN_COMMUNE_PORTAL"] = connection
    env.update(extra_env or {})
    done = subprocess.run(
        [sys.executable, "-m", "commune_dx.cli", "night", "--as-of", as_of],
        env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    return NightResult(done.returncode, done.stdout + done.stderr)


def connection_json(url: str, token: str) -> str:
    return json.dumps({"conn_type": "http", "host": url, "password": token})


@pytest.fixture(scope="session", autouse=True)
def _airflow_home_ready() -> None:
    """The tests run Airflow against the project's Airflow home; make sure it exists."""
    env = {**os.environ, **airflow_env()}
    subprocess.run([sys.executable, "-m", "commune_dx.cli", "setup"], env=env, check=True,
                   capture_output=True)
