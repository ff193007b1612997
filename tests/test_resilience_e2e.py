"""Ingestion that loses nothing: the real DAG against the demo portal with faults injected,
killed mid-run, and pointed at a dead portal, a wrong token or a malformed connection."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import duckdb
import pytest

from commune_dx.demo_portal.server import start_demo_portal
from commune_dx.settings import REPO_ROOT
from tests.conftest import (
    DEMO_AS_OF,
    connection_json,
    marts_digest,
    night_command,
    night_env,
    run_night_cli,
)

pytestmark = pytest.mark.e2e
DOWN_UNIT = "A25-SKHCN"  # an agency with central tasks: its absence changes task status


def clock_for(as_of: str) -> str:
    day = int(as_of[-2:]) + 1
    return f"{as_of[:8]}{day:02d}T01:00:00+07:00"


@pytest.fixture(scope="module")
def private_portal():
    """A portal of this module's own, so faults never leak into other tests."""
    with start_demo_portal(token="resilience") as running:
        yield running


def test_faulty_night_succeeds_and_the_next_night_catches_up(private_portal, clean_night, tmp_path):
    portal = private_portal
    warehouse = tmp_path / "warehouse"
    connection = connection_json(portal.url, portal.token)

    portal.set_clock(clock_for("2025-09-20"))
    portal.set_faults(fault_seed=11, fail_503=0.20, fail_429=0.05, fail_drop=0.02, retry_after_s=1,
                      down_units=[DOWN_UNIT])
    faulty = run_night_cli("2025-09-20", warehouse, connection)
    portal.clear_faults()
    assert faulty.returncode == 0, faulty.output[-4000:]

    con = duckdb.connect(str(warehouse / "serving.duckdb"), read_only=True)
    status = dict(con.execute(
        "SELECT unit_code, pull_outcome FROM marts.unit_pull_status WHERE as_of_date = '2025-09-20'"
    ).fetchall())
    con.close()
    assert status[DOWN_UNIT] == "failed"
    assert sum(1 for outcome in status.values() if outcome == "ok") == len(status) - 1

    portal.set_clock(clock_for(DEMO_AS_OF))
    clean = run_night_cli(DEMO_AS_OF, warehouse, connection)
    assert clean.returncode == 0, clean.output[-4000:]
    reference, _ = clean_night
    assert marts_digest(warehouse / "serving.duckdb", DEMO_AS_OF) == marts_digest(
        reference / "serving.duckdb", DEMO_AS_OF
    )


def _kill_when(warehouse: Path, connection: str, ready, extra_env: dict[str, str]) -> None:
    """Start a night, wait until ``ready(log_text)`` holds, then SIGKILL its whole process group."""
    log = warehouse / "logs" / f"night-{DEMO_AS_OF}.log"
    proc = subprocess.Popen(
        night_command(DEMO_AS_OF), env=night_env(warehouse, connection, extra_env), cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"the night ended (exit {proc.returncode}) before it could be killed")
            if log.exists() and ready(log.read_text(encoding="utf-8", errors="replace")):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return
            time.sleep(0.1)
        pytest.fail("the night never reached the point where it was to be killed")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.parametrize("stage", ["pull", "load"])
def test_sigkill_mid_run_then_rerun_gives_the_uninterrupted_marts(stage, private_portal, clean_night,
                                                                   tmp_path):
    portal = private_portal
    warehouse = tmp_path / "warehouse"
    connection = connection_json(portal.url, portal.token)
    portal.set_clock(clock_for(DEMO_AS_OF))
    if stage == "pull":
        portal.set_faults(latency_ms=150)  # pulls last long enough to be caught mid-way

        def ready(text: str) -> bool:
            units_dir = next(warehouse.glob("landing/*/units"), None)
            return units_dir is not None and len(list(units_dir.glob("*.jsonl"))) >= 10

        extra: dict[str, str] = {}
    else:
        def ready(text: str) -> bool:
            return "versions staged in one transaction; committing" in text

        extra = {"COMMUNE_FAULT_LOAD_COMMIT_DELAY": "30"}
    try:
        _kill_when(warehouse, connection, ready, extra)
    finally:
        portal.clear_faults()
    assert not (warehouse / "serving.duckdb").exists()  # nothing half-published

    rerun = run_night_cli(DEMO_AS_OF, warehouse, connection)
    assert rerun.returncode == 0, rerun.output[-4000:]
    reference, _ = clean_night
    assert marts_digest(warehouse / "serving.duckdb") == marts_digest(reference / "serving.duckdb")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "connection,message",
    [
        (lambda p: connection_json(f"http://127.0.0.1:{_closed_port()}", p.token),
         "is unreachable (GET http://127.0.0.1:"),
        (lambda p: connection_json(p.url, "wrong-token"), "refused the token (401"),
        (lambda p: '{"conn_type": "http", "host": "http://127.0.0.1:1"}', "has no password"),
        (lambda p: '{"conn_type": "http", "host": ', "is missing or malformed"),
    ],
    ids=["portal down", "wrong token", "connection without token", "connection not JSON"],
)
def test_fail_fast_with_one_line_and_keep_the_published_warehouse(connection, message,
                                                                   private_portal, clean_night):
    warehouse, _ = clean_night
    served = warehouse / "serving.duckdb"
    before = hashlib.sha256(served.read_bytes()).hexdigest()
    started = time.monotonic()
    result = run_night_cli(DEMO_AS_OF, warehouse, connection(private_portal))
    assert result.returncode == 1
    error_lines = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1 and message in error_lines[0], result.output[-3000:]
    assert time.monotonic() - started < 60
    assert hashlib.sha256(served.read_bytes()).hexdigest() == before
