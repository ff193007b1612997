"""The scheduled path, as deployed: `make up`'s stack (PostgreSQL, api-server, scheduler,
dag-processor, triggerer, LocalExecutor, demo portal) creates a night from its timetable by
itself, and a night triggered through the REST API with `as_of_date` succeeds too."""

from __future__ import annotations

import base64
import dataclasses
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from commune_dx import stack as st
from commune_dx.settings import LOCAL_TZ

pytestmark = pytest.mark.e2e

# Enough for the api-server to listen and the dag-processor to parse the DAG before the minute.
SCHEDULE_LEAD = timedelta(seconds=180)
RUN_WAIT_SECONDS = 900


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[st.Stack, datetime]]:
    """A stack in a temporary state dir on free ports, its schedule set to a minute ahead; torn
    down at the end, nothing left running."""
    root = Path(tempfile.mkdtemp(prefix="commune-stack-"))
    root.chmod(0o755)  # PostgreSQL runs as user postgres and must reach its data directory
    ports = {name: st.free_port() for name in ("postgres_port", "api_port", "portal_port",
                                               "worker_log_port", "trigger_log_port", "health_port")}
    running = st.Stack(state_dir=root / "state", warehouse_dir=root / "warehouse", **ports)
    try:
        st.prepare(running)
        now = datetime.now(ZoneInfo(LOCAL_TZ))
        minute = (now + SCHEDULE_LEAD).replace(second=0, microsecond=0) + timedelta(minutes=1)
        running = dataclasses.replace(
            running, extra_env={"COMMUNE_SCHEDULE": f"{minute.minute} {minute.hour} * * *"})
        st.start(running)
        yield running, minute
    finally:
        st.down(running)
        assert st.running(running) == {}
        assert not (running.pg_dir / "data" / "postmaster.pid").exists(), "PostgreSQL still running"
        shutil.rmtree(root, ignore_errors=True)


def _runs(stack: st.Stack, run_type: str) -> list[tuple]:
    import psycopg2

    con = psycopg2.connect(st.metadata_url(stack).replace("postgresql+psycopg2", "postgresql"))
    try:
        with con.cursor() as cur:
            cur.execute("SELECT run_id, logical_date, queued_at, state FROM dag_run "
                        "WHERE dag_id = 'commune_nightly' AND run_type = %s", [run_type])
            return cur.fetchall()
    finally:
        con.close()


def _api(stack: st.Stack, path: str, body: dict | None = None, token: str | None = None) -> dict:
    request = urllib.request.Request(
        stack.ui_url + path, data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json",
                 **({"Authorization": f"Bearer {token}"} if token else {})},
        method="GET" if body is None else "POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _central_figures(warehouse: Path) -> tuple:
    con = duckdb.connect(str(warehouse / "serving.duckdb"), read_only=True)
    try:
        total, completed = con.execute(
            "SELECT tasks_total, completed FROM marts.task_completion WHERE as_of_date = DATE "
            "'2025-09-21' AND scope = 'province' AND scope_code = 'central'").fetchone()
        dead_zones = con.execute("SELECT sum(dead_zone_villages) FROM marts.connectivity_province_monthly "
                                 "WHERE period = '2025-08'").fetchone()[0]
        days = [str(d) for (d,) in con.execute("SELECT DISTINCT as_of_date FROM marts.task_completion")
                .fetchall()]
    finally:
        con.close()
    return total, completed, dead_zones, days


def test_the_scheduler_runs_the_night_at_its_minute_and_the_api_triggers_another(stack, capsys):
    running, minute = stack
    deadline = time.monotonic() + RUN_WAIT_SECONDS + SCHEDULE_LEAD.total_seconds()
    scheduled = []
    while time.monotonic() < deadline:
        scheduled = _runs(running, "scheduled")
        if scheduled and all(run[3] in ("success", "failed") for run in scheduled):
            break
        time.sleep(5)
    timeline = st.run_timeline(running, "scheduled")
    with capsys.disabled():
        print("\n" + "\n".join(timeline))
    assert len(scheduled) == 1, f"expected one scheduled run, got {scheduled}"
    run_id, logical_date, queued_at, state = scheduled[0]
    assert state == "success", "\n".join(timeline)
    assert logical_date == minute.astimezone(UTC), "not the run of the scheduled minute"
    assert timedelta(0) <= queued_at - logical_date < timedelta(minutes=1), "not created at its minute"
    # The demo stack reports on the demo's day, never on today's date (a night of zeros).
    assert _central_figures(running.warehouse_dir) == (135, 79, 24, ["2025-09-21"])

    password = json.loads(running.password_file.read_text(encoding="utf-8"))[st.UI_USER]
    token = _api(running, "/auth/token", {"username": st.UI_USER, "password": password})["access_token"]
    triggered = _api(running, "/api/v2/dags/commune_nightly/dagRuns",
                     {"logical_date": None, "conf": {"as_of_date": "2025-09-21"}}, token)
    deadline = time.monotonic() + RUN_WAIT_SECONDS
    while time.monotonic() < deadline:
        state = _api(running, f"/api/v2/dags/commune_nightly/dagRuns/{triggered['dag_run_id']}",
                     token=token)["state"]
        if state in ("success", "failed"):
            break
        time.sleep(5)
    with capsys.disabled():
        print("\n".join(st.run_timeline(running, "manual")))
    assert state == "success"
    assert _central_figures(running.warehouse_dir) == (135, 79, 24, ["2025-09-21"])


def _devtools(browser: subprocess.Popen, profile: Path) -> str:
    """The page's DevTools WebSocket URL of a headless Chromium started with port 0."""
    deadline = time.monotonic() + 60
    port_file = profile / "DevToolsActivePort"
    # Chromium creates the file before it writes the port into it: wait for the port itself.
    while not (port_file.exists() and port_file.read_text().split()) and time.monotonic() < deadline:
        assert browser.poll() is None, "chromium exited"
        time.sleep(0.2)
    assert port_file.exists() and port_file.read_text().split(), "chromium wrote no DevTools port in 60 s"
    port = port_file.read_text().split()[0]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
        pages = [t for t in json.loads(response.read()) if t["type"] == "page"]
    return pages[0]["webSocketDebuggerUrl"]


def test_the_ui_page_of_the_dag_shows_its_runs_after_login(stack, tmp_path):
    """Headless Chromium logs in as the UI does (the token from /auth/token in cookie `_token`),
    opens the DAG's page and keeps a screenshot under the test's output."""
    from websockets.sync.client import connect

    running, _ = stack
    password = json.loads(running.password_file.read_text(encoding="utf-8"))[st.UI_USER]
    token = _api(running, "/auth/token", {"username": st.UI_USER, "password": password})["access_token"]
    profile = tmp_path / "chromium-profile"
    browser = subprocess.Popen(
        [shutil.which("chromium") or "chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
         "--remote-debugging-port=0", f"--user-data-dir={profile}", "--window-size=1400,1000",
         "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with connect(_devtools(browser, profile), max_size=None) as ws:
            ids = iter(range(1, 10_000))

            def call(method: str, **params) -> dict:
                number = next(ids)
                ws.send(json.dumps({"id": number, "method": method, "params": params}))
                while True:
                    message = json.loads(ws.recv(timeout=60))
                    if message.get("id") == number:
                        assert "error" not in message, message
                        return message["result"]

            call("Network.enable")
            call("Network.setCookie", name="_token", value=token, url=running.ui_url, path="/")
            call("Page.navigate", url=f"{running.ui_url}/dags/commune_nightly/runs")
            text = ""
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and not ("scheduled__" in text and "manual__" in text):
                time.sleep(2)
                text = call("Runtime.evaluate", expression="document.body.innerText")["result"]
                text = text.get("value", "")
            shot = call("Page.captureScreenshot", format="png")["data"]
    finally:
        browser.terminate()
        browser.wait(timeout=30)
    screenshot = tmp_path / "commune_nightly-runs.png"
    screenshot.write_bytes(base64.b64decode(shot))
    print(f"\nscreenshot: {screenshot}")
    # The runs table: both nights, each with its state badge.
    assert "commune_nightly" in text and "scheduled__" in text and "manual__" in text, text[:2000]
    assert text.count("Success") >= 2, text[:2000]
