"""Superset for real (`make bi`): started by deploy/superset/run-local.sh on loopback against a
warehouse published by a real demo night; the chart data API's figures against serving.duckdb, a
night published while it serves, and the dashboard in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import psutil
import pytest
import requests
import yaml

from commune_dx.report import STATUS_LABELS
from commune_dx.settings import REPO_ROOT
from tests.conftest import DEMO_AS_OF, connection_json, run_night_cli

pytestmark = pytest.mark.e2e

BI_PYTHON = REPO_ROOT / ".venv-bi" / "bin" / "python"
BUNDLE = REPO_ROOT / "deploy" / "superset" / "dashboard"
DASHBOARD_SLUG = "commune-dx"
NEXT_NIGHT = "2025-09-22"
SCREENSHOT = REPO_ROOT / "data" / "warehouse" / "screenshots" / "superset-dashboard.png"


def bundle_charts() -> dict[str, str]:
    """slice_name -> chart file name (without .yaml) of every chart in the bundle."""
    return {yaml.safe_load(path.read_text(encoding="utf-8"))["slice_name"]: path.stem
            for path in sorted((BUNDLE / "charts").glob("*.yaml"))}


@dataclass
class PeakMemory:
    """Samples the resident memory of a process tree (Superset's gunicorn and its workers)."""

    pid: int
    peak_bytes: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> None:
        try:
            root = psutil.Process(self.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        total = 0
        for process in processes:
            try:
                total += process.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        self.peak_bytes = max(self.peak_bytes, total)

    def run(self) -> None:
        while not self._stop.wait(0.5):
            self.sample()

    def start(self) -> None:
        threading.Thread(target=self.run, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()


@dataclass
class RunningSuperset:
    url: str
    password: str
    warehouse: Path
    log: Path
    memory: PeakMemory

    def api(self) -> requests.Session:
        """A session logged in through the API (/api/v1/security/login)."""
        session = requests.Session()
        response = session.post(f"{self.url}/api/v1/security/login", timeout=60, json={
            "username": "admin", "password": self.password, "provider": "db", "refresh": False})
        assert response.status_code == 200, response.text
        session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        return session


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def superset(clean_night, portal, tmp_path_factory) -> Iterator[RunningSuperset]:
    """`make bi`'s script serving a copy of the clean night's warehouse (the test publishes one
    more night into it) on a free loopback port, with its own state dir."""
    assert BI_PYTHON.exists(), "the Superset environment is missing: run `make bi-setup` (make test does)"
    clean_warehouse, _ = clean_night
    root = tmp_path_factory.mktemp("superset")
    warehouse = root / "warehouse"
    shutil.copytree(clean_warehouse, warehouse, ignore=shutil.ignore_patterns("*.lock"))
    port = free_port()
    password = secrets.token_urlsafe(12)
    env = {**os.environ, "WAREHOUSE_DIR": str(warehouse), "BI_PORT": str(port),
           "BI_ADMIN_PASSWORD": password, "SUPERSET_HOME": str(root / "home")}
    log = root / "superset.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(REPO_ROOT / "deploy/superset/run-local.sh")], env=env, cwd=REPO_ROOT,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    memory = PeakMemory(process.pid)
    memory.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 1800
        while True:
            assert process.poll() is None, f"Superset exited:\n{log.read_text(errors='replace')[-4000:]}"
            assert time.monotonic() < deadline, f"Superset not up:\n{log.read_text(errors='replace')[-4000:]}"
            try:
                if requests.get(f"{url}/health", timeout=30).status_code == 200:
                    break
            except requests.RequestException:
                pass  # not listening yet, or still loading the app
            time.sleep(2)
        yield RunningSuperset(url, password, warehouse, log, memory)
    finally:
        memory.stop()
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        peak = memory.peak_bytes / 2**20
        print(f"\nSuperset peak memory (RSS of gunicorn and its workers): {peak:.0f} MiB")


def dashboard_charts(session: requests.Session, url: str) -> dict[str, int]:
    """slice_name -> chart id of the charts on the imported dashboard."""
    response = session.get(f"{url}/api/v1/dashboard/{DASHBOARD_SLUG}/charts", timeout=60)
    assert response.status_code == 200, response.text
    return {chart["slice_name"]: chart["id"] for chart in response.json()["result"]}


def chart_rows(session: requests.Session, url: str, chart_id: int) -> list[dict]:
    """The chart data API's rows for a chart's saved query, bypassing Superset's cache (force)."""
    response = session.get(f"{url}/api/v1/chart/{chart_id}/data/", params={"force": "true"}, timeout=300)
    assert response.status_code == 200, response.text
    results = response.json()["result"]
    assert len(results) == 1 and results[0].get("error") is None, results
    return results[0]["data"]


def day(epoch_ms: float) -> date:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).date()


def as_date(value: float | None) -> date | None:
    """A DATE cell of a table chart (a temporal column: epoch milliseconds)."""
    return None if value is None else day(value)


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 9)


def serving(warehouse: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse / "serving.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


LATEST_NIGHT = "(SELECT max(as_of_date) FROM marts.task_completion)"
# The bilingual labels of the bundle's latest-night datasets, back to the marts' values.
PROVINCE_STATUS = {"Xanh / Green": True, "Chưa xanh / Not green": False, None: None}
RISK = {"Quá hạn / Overdue": "overdue", "Có nguy cơ / At risk": "at_risk",
        "Đúng tiến độ / On track": "on_track"}

# For each chart of the bundle: its rows as the chart data API returns them, and the same figures
# read from serving.duckdb with plain SQL on the marts.
CHECKS: dict[str, tuple[Callable[[list[dict]], list[tuple]], str]] = {
    "central_tasks": (
        lambda rows: [(day(r["as_of_date"]), r["tasks_total"], r["completed"], r["not_completed"])
                      for r in rows],
        "SELECT as_of_date, tasks_total, completed, not_completed FROM marts.task_completion"
        " WHERE scope = 'province' AND scope_code = 'central' ORDER BY as_of_date"),
    "phase_green": (
        lambda rows: [(r["phase"], r["province_code"], r["communes_green"], r["communes_total"],
                       rounded(r["communes_green_rate"]), r["agencies_green"], r["agencies_total"],
                       PROVINCE_STATUS[r["province_status"]]) for r in rows],
        "SELECT phase, province_code, communes_green, communes_total, round(communes_green_rate, 9),"
        " agencies_green, agencies_total, province_green FROM marts.phase_summary"
        f" WHERE as_of_date = {LATEST_NIGHT} ORDER BY phase, province_code"),
    "task_watchlist": (
        lambda rows: [(r["task_code"], r["task_title"], r["assigned_unit_code"], as_date(r["deadline"]),
                       r["days_to_deadline"], RISK[r["risk_label"]], rounded(r["progress_pct"]))
                      for r in rows],
        "SELECT task_code, task_title, assigned_unit_code, deadline, days_to_deadline, risk,"
        " round(progress_pct, 9) FROM marts.task_watchlist"
        f" WHERE as_of_date = {LATEST_NIGHT} ORDER BY days_to_deadline, task_code"),
    "dead_zone_villages": (
        lambda rows: [(r["period"], r["dead_zone_villages"]) for r in rows],
        "SELECT period, SUM(dead_zone_villages) FROM marts.connectivity_province_monthly"
        " GROUP BY period ORDER BY period"),
    "skills_coverage": (
        lambda rows: [(r["period"], rounded(r["coverage_rate"])) for r in rows],
        "SELECT period, round(coverage_rate, 9) FROM marts.digital_skills_province_monthly ORDER BY period"),
    "public_services": (
        lambda rows: [(r["period"], rounded(r["full_online_rate"]), rounded(r["on_time_rate"]))
                      for r in rows],
        "SELECT period, round(full_online_rate, 9), round(on_time_rate, 9)"
        " FROM marts.public_services_province_monthly ORDER BY period"),
    "reporting_rate": (
        lambda rows: sorted((r["period"], r["form"], rounded(r["reporting_rate"])) for r in rows),
        "SELECT period, form, round(reporting_rate, 9) FROM marts.reporting_rate ORDER BY ALL"),
    "communes": (
        # The dashboard words the ranking as the report does (STATUS_LABELS), never "green".
        lambda rows: [(r["unit_code"], r["unit_name"], r["status_label"], rounded(r["reporting_rate"]),
                       r["dead_zone_villages"]) for r in rows],
        "SELECT unit_code, unit_name, CASE status "
        + " ".join(f"WHEN '{status}' THEN '{label}'" for status, label in STATUS_LABELS.items())
        + " END, round(reporting_rate, 9), dead_zone_villages FROM marts.commune_scorecard"
        " WHERE as_of_date = (SELECT max(as_of_date) FROM marts.commune_scorecard)"
        " ORDER BY unit_code"),
}


def test_chart_data_api_matches_serving_duckdb_and_sees_the_next_night(superset, portal):
    """Every chart of the dashboard answers the chart data API with serving.duckdb's figures (the
    Steering Committee's 135 / 79 / 56 central tasks on 2025-09-21, 24 dead-zone villages in
    2025-08, phase 1 Green in 148 of 148 communes and at province level, every watchlist row of
    the night); a night published while Superset serves is in the next answer."""
    session = superset.api()
    on_dashboard = dashboard_charts(session, superset.url)
    files = bundle_charts()
    assert set(on_dashboard) == set(files), "the dashboard shows exactly the bundle's charts"
    assert set(files.values()) == set(CHECKS), "every chart of the bundle has its check here"

    for name, chart_id in on_dashboard.items():
        to_tuples, sql = CHECKS[files[name]]
        got = to_tuples(chart_rows(session, superset.url, chart_id))
        assert got, f"{name}: no rows"
        assert got == serving(superset.warehouse, sql), name

    ids = {files[name]: chart_id for name, chart_id in on_dashboard.items()}
    central = CHECKS["central_tasks"][0](chart_rows(session, superset.url, ids["central_tasks"]))
    assert (date.fromisoformat(DEMO_AS_OF), 135, 79, 56) in central
    assert central[-1][0] == date.fromisoformat(DEMO_AS_OF)
    dead_zone_rows = chart_rows(session, superset.url, ids["dead_zone_villages"])
    dead_zones = dict(CHECKS["dead_zone_villages"][0](dead_zone_rows))
    assert dead_zones["2025-08"] == 24
    print(f"\nchart data API, central tasks: {central}\nchart data API, dead-zone villages: {dead_zones}")

    # Green status and the watchlist show the seed's night: phase 1 green in all 148 communes and
    # at province level (one province in the demo), and every watchlist row of that night.
    phases = CHECKS["phase_green"][0](chart_rows(session, superset.url, ids["phase_green"]))
    [(province, phase_1)] = [(row[1], row) for row in phases if row[0] == 1]
    assert (phase_1[2], phase_1[3], phase_1[7]) == (148, 148, True), phase_1
    watchlist = CHECKS["task_watchlist"][0](chart_rows(session, superset.url, ids["task_watchlist"]))
    [(on_the_night,)] = serving(superset.warehouse, "SELECT count(*) FROM marts.task_watchlist"
                                                    f" WHERE as_of_date = DATE '{DEMO_AS_OF}'")
    assert len(watchlist) == on_the_night > 0
    risks = {risk: sum(1 for row in watchlist if row[5] == risk) for risk in RISK.values()}
    print(f"chart data API, Green status by phase ({province}): {phases}\n"
          f"chart data API, watchlist of {DEMO_AS_OF}: {len(watchlist)} tasks, {risks}")

    portal.set_clock("2025-09-23T01:00:00+07:00")
    night = run_night_cli(NEXT_NIGHT, superset.warehouse, connection_json(portal.url, portal.token))
    assert night.returncode == 0, night.output[-4000:]
    after = CHECKS["central_tasks"][0](chart_rows(session, superset.url, ids["central_tasks"]))
    assert after[-1][0] == date.fromisoformat(NEXT_NIGHT), after
    assert after == serving(superset.warehouse, CHECKS["central_tasks"][1])
    print(f"chart data API after the night of {NEXT_NIGHT} was published: {after}")


def test_the_dbt_exposure_depends_on_every_mart_the_bundle_reads():
    """dbt's exposure of the dashboard lists exactly the marts its datasets read (a physical
    dataset's table, or the marts a virtual dataset's SQL names)."""
    read = set()
    for path in (BUNDLE / "datasets").rglob("*.yaml"):
        dataset = yaml.safe_load(path.read_text(encoding="utf-8"))
        sql = dataset["sql"]
        read |= set(re.findall(r"marts\.(\w+)", sql)) if sql else {dataset["table_name"]}
    exposures_file = REPO_ROOT / "dbt_project" / "models" / "exposures.yml"
    exposures = yaml.safe_load(exposures_file.read_text(encoding="utf-8"))
    [dashboard] = [e for e in exposures["exposures"] if e["type"] == "dashboard"]
    assert {re.fullmatch(r"ref\('(\w+)'\)", ref).group(1) for ref in dashboard["depends_on"]} == read
    assert {"phase_summary", "task_watchlist"} <= read


def test_dashboard_renders_every_chart_in_headless_chromium(superset):
    """The dashboard, opened logged in in headless Chromium, renders every chart and no error box;
    its screenshot is kept under data/warehouse/screenshots/ (as the report's)."""
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    screenshot = SCREENSHOT
    expected = len(bundle_charts())
    done = subprocess.run(
        [str(BI_PYTHON), str(REPO_ROOT / "tests" / "superset_screenshot.py"), "--base-url", superset.url,
         "--dashboard", DASHBOARD_SLUG, "--username", "admin", "--password", superset.password,
         "--expected-charts", str(expected), "--out", str(screenshot)],
        capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\ndashboard in headless Chromium: {seen}")
    assert seen["errors"] == []
    assert seen["charts"] == expected
    assert seen["rendered"] == expected
    assert screenshot.stat().st_size > 50_000
