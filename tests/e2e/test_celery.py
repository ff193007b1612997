"""Scale-out, as deployed: `make up EXECUTOR=celery` (PostgreSQL, Redis, api-server, scheduler,
dag-processor, triggerer, two Celery workers, demo portal) runs a night triggered through the
REST API; Airflow's metadata database shows the pulls on both workers and every step that opens
the DuckDB files on worker A, and the marts equal a LocalExecutor night's."""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import pytest

from commune_dx import stack as st
from tests.conftest import DEMO_AS_OF, marts_digest
from tests.e2e.test_stack import RUN_WAIT_SECONDS, _api

pytestmark = pytest.mark.e2e

PARSE_WAIT_SECONDS = 300
WAREHOUSE_STEPS = ("preflight", "validate", "load", "dbt_build", "publish")


@pytest.fixture(scope="module")
def celery_stack() -> Iterator[st.Stack]:
    """The Celery stack in a temporary state dir on free ports, 40 units per pull batch (the demo's
    164 units make 5 batches, more than one worker's share); torn down at the end, nothing left
    running."""
    root = Path(tempfile.mkdtemp(prefix="commune-celery-"))
    root.chmod(0o755)  # PostgreSQL runs as user postgres and must reach its data directory
    ports = {name: st.free_port() for name in ("postgres_port", "api_port", "portal_port", "worker_log_port",
                                               "trigger_log_port", "health_port", "redis_port")}
    running = st.Stack(state_dir=root / "state", warehouse_dir=root / "warehouse", executor="celery",
                       extra_env={"COMMUNE_UNITS_PER_BATCH": "40"}, **ports)
    try:
        st.prepare(running)
        st.start(running)
        yield running
    finally:
        st.down(running)
        assert st.running(running) == {}, "a process of the stack is still running"
        assert not (running.pg_dir / "data" / "postmaster.pid").exists(), "PostgreSQL still running"
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", running.redis_port)) != 0, "Redis still listening"
        shutil.rmtree(root, ignore_errors=True)


def _task_hosts(stack: st.Stack, run_id: str) -> list[tuple[str, int, str, str, str]]:
    """(task_id, map_index, state, hostname, queue) of every task instance of the run."""
    import psycopg2

    con = psycopg2.connect(st.metadata_url(stack).replace("postgresql+psycopg2", "postgresql"))
    try:
        with con.cursor() as cur:
            cur.execute("SELECT task_id, map_index, state, hostname, queue FROM task_instance "
                        "WHERE dag_id = 'commune_nightly' AND run_id = %s ORDER BY start_date, map_index",
                        [run_id])
            return cur.fetchall()
    finally:
        con.close()


def test_a_celery_night_pulls_on_both_workers_and_keeps_the_warehouse_on_one(celery_stack, clean_night,
                                                                              capsys):
    stack = celery_stack
    password = json.loads(stack.password_file.read_text(encoding="utf-8"))[st.UI_USER]
    token = _api(stack, "/auth/token", {"username": st.UI_USER, "password": password})["access_token"]
    # The dag-processor has just started: the DAG exists once it has parsed dags/.
    deadline = time.monotonic() + PARSE_WAIT_SECONDS
    while True:
        try:
            _api(stack, "/api/v2/dags/commune_nightly", token=token)
            break
        except urllib.error.HTTPError as exc:
            assert exc.code == 404 and time.monotonic() < deadline, f"commune_nightly not parsed: {exc}"
            time.sleep(3)
    triggered = _api(stack, "/api/v2/dags/commune_nightly/dagRuns",
                     {"logical_date": None, "conf": {"as_of_date": DEMO_AS_OF}}, token)
    run_id = triggered["dag_run_id"]
    state = "queued"
    deadline = time.monotonic() + RUN_WAIT_SECONDS
    while time.monotonic() < deadline:
        state = _api(stack, f"/api/v2/dags/commune_nightly/dagRuns/{run_id}", token=token)["state"]
        if state in ("success", "failed"):
            break
        time.sleep(5)
    rows = _task_hosts(stack, run_id)
    table = [f"  {task + (f'[{index}]' if index >= 0 else ''):<22} {task_state or '-':<8} "
             f"{queue or '-':<10} {host or '-'}" for task, index, task_state, host, queue in rows]
    with capsys.disabled():
        print(f"\nrun {run_id}: {state}\n  {'task':<22} {'state':<8} {'queue':<10} worker")
        print("\n".join(table))
        print("\n".join(st.run_timeline(stack, "manual")))
    assert state == "success", "\n".join(table)

    fqdn = socket.getfqdn()
    worker_a, worker_b = f"worker-a.{fqdn}", f"worker-b.{fqdn}"
    pulls = [(host, queue) for task, _, _, host, queue in rows if task == "pull_unit_batch"]
    assert len(pulls) == 5, f"expected 5 pull batches of 40 units, got {len(pulls)}"
    assert {queue for _, queue in pulls} == {"default"}
    assert {host for host, _ in pulls} == {worker_a, worker_b}, "pulls not on both workers"
    steps = {task: (host, queue) for task, _, _, host, queue in rows if task != "pull_unit_batch"}
    assert steps == {task: (worker_a, "warehouse") for task in WAREHOUSE_STEPS}

    # The same marts as a LocalExecutor night (`make night`) of the same day.
    local_warehouse, _ = clean_night
    assert (marts_digest(stack.warehouse_dir / "serving.duckdb", DEMO_AS_OF)
            == marts_digest(local_warehouse / "serving.duckdb", DEMO_AS_OF))
