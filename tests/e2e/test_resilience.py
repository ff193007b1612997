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

from commune_dx import landing
from commune_dx.settings import MART_TABLES, REPO_ROOT
from demo_portal.server import start_demo_portal
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
            runs = landing.landing_root(warehouse).glob("*")
            return any(len(landing.unit_files(run)) >= 10 for run in runs)

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


# -- a hostile portal (issue 16): one night, a unit misbehaving in each way -------------------

# Small budgets, so that the units that never end fail in seconds (settings, as a deployment sets them).
HOSTILE_ENV = {"COMMUNE_UNIT_MAX_SECONDS": "8", "COMMUNE_UNIT_MAX_PAGES": "10", "COMMUNE_MAX_ATTEMPTS": "3"}
# mode -> (pull outcome, a fragment of the pull error or of the quarantine reason)
EXPECTED = {
    "repeat_token": ("failed", "a second time"),
    "stuck_cursor": ("failed", "COMMUNE_UNIT_MAX_PAGES"),
    "drip": ("failed", "COMMUNE_UNIT_MAX_SECONDS"),
    "huge_error": ("failed", "the rest not read"),
    "deep_json": ("failed", "nested too deeply"),
    "item_not_object": ("failed", "not a submission object"),
    "bad_unicode": ("failed", "not valid Unicode"),
    "payload_not_object": ("ok", "payload is a JSON array, not an object"),
    "float_form_version": ("ok", "form_version 1.0 is not a version"),
    "bad_submitted_at": ("ok", "submitted_at '"),
    "bad_updated_at": ("ok", "updated_at '"),
    "bad_retry_after": ("ok", None),
    "future_version": ("ok", None),
}
KPI_MARTS = ("connectivity_monthly", "digital_skills_monthly", "public_services_monthly",
             "reporting_completeness", "commune_scorecard")


def test_a_hostile_portal_cannot_stop_the_night(private_portal, clean_night, tmp_path):
    portal = private_portal
    warehouse = tmp_path / "warehouse"
    codes = sorted(u["unit_code"] for u in portal.dataset.units)
    hostile = dict(zip(codes[::11], EXPECTED, strict=False))
    assert len(hostile) == len(EXPECTED)
    portal.set_clock(clock_for(DEMO_AS_OF))
    portal.set_faults(hostile_units=hostile, drip_ms=50, units_listing="invalid_codes")
    started = time.monotonic()
    try:
        night = run_night_cli(DEMO_AS_OF, warehouse, connection_json(portal.url, portal.token), HOSTILE_ENV)
    finally:
        portal.clear_faults()
        portal.set_faults(units_listing="as_is")
    wall = time.monotonic() - started
    assert night.returncode == 0, night.output[-4000:]

    served = warehouse / "serving.duckdb"
    con = duckdb.connect(str(served), read_only=True)
    status = {code: (outcome, error, note) for code, outcome, error, note in con.execute(
        "SELECT unit_code, pull_outcome, pull_error, pull_note FROM marts.unit_pull_status "
        "WHERE as_of_date = ?", [DEMO_AS_OF]).fetchall()}
    quarantined = dict(con.execute(
        "SELECT unit_code, string_agg(reasons, ' | ') FROM marts.quarantine GROUP BY unit_code").fetchall())
    con.close()
    print(f"\nhostile night: {wall:.1f}s wall, {len(status)} units")
    for code, mode in hostile.items():
        outcome, fragment = EXPECTED[mode]
        pulled, error, note = status[code]
        shown = error or note or (quarantined.get(code, "") if fragment else "")
        print(f"  {mode:20s} {code:10s} {pulled:6s} {shown[:110]}")
        assert pulled == outcome, (mode, status[code])
        if outcome == "failed":
            assert fragment in error, (mode, error)
        elif fragment is not None:
            assert fragment in quarantined.get(code, ""), (mode, quarantined.get(code))
    for code in ("../etc", "null"):
        assert status[code][0] == "failed" and "not a valid unit code" in status[code][1]
    future = next(code for code, mode in hostile.items() if mode == "future_version")
    assert "dated after the portal's clock" in status[future][2]
    working = duckdb.connect(str(warehouse / "warehouse.duckdb"), read_only=True)
    (watermark,) = working.execute("SELECT updated_at < TIMESTAMPTZ '2030-01-01' FROM raw.watermarks "
                                   "WHERE unit_code = ?", [future]).fetchone()
    working.close()
    assert watermark

    # Every unit that behaved has the marts of a clean night; a unit that sent an invalid newer
    # version keeps its valid older one in the KPI marts.
    reference, _ = clean_night
    good = set(codes) - set(hostile)
    unit_marts = [t for t in MART_TABLES if t not in ("quarantine",) and _has_unit_code(served, t)]
    assert marts_digest(served, DEMO_AS_OF, unit_marts, good) == marts_digest(
        reference / "serving.duckdb", DEMO_AS_OF, unit_marts, good)
    displaced = {code for code, mode in hostile.items() if EXPECTED[mode][0] == "ok"}
    assert marts_digest(served, DEMO_AS_OF, KPI_MARTS, displaced) == marts_digest(
        reference / "serving.duckdb", DEMO_AS_OF, KPI_MARTS, displaced)


def _has_unit_code(db: Path, table: str) -> bool:
    con = duckdb.connect(str(db), read_only=True)
    try:
        found = con.execute("SELECT count(*) FROM information_schema.columns WHERE table_schema = "
                            "'marts' AND table_name = ? AND column_name = 'unit_code'", [table]).fetchone()
        return bool(found[0])
    finally:
        con.close()


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:200]
    except OSError:
        return "?"


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigterm_to_make_night_ends_a_hung_night_and_everything_it_started(private_portal, tmp_path):
    """As `timeout` does: SIGTERM to `make night`'s process group while a pull hangs on units
    that drip a byte at a time, within a budget far too large to save the night."""
    portal = private_portal
    warehouse = tmp_path / "warehouse"
    codes = sorted(u["unit_code"] for u in portal.dataset.units)
    portal.set_clock(clock_for(DEMO_AS_OF))
    portal.set_faults(hostile_units={code: "drip" for code in codes[:8]}, drip_ms=500)
    env = night_env(warehouse, connection_json(portal.url, portal.token),
                    {"COMMUNE_UNIT_MAX_SECONDS": "900"})
    make = subprocess.Popen(["make", "-s", "night", f"AS_OF={DEMO_AS_OF}"], env=env, cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    everything: set[int] = set()
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and make.poll() is None:
            runs = landing.landing_root(warehouse).glob("*")
            if any(landing.units_dir(run).glob(f"*{landing.TEMP_SUFFIX}") for run in runs):
                break
            time.sleep(0.2)
        time.sleep(2)  # the pull is hung on the dripping units now
        assert make.poll() is None, "the night ended before it could be stopped"
        everything = _descendants(make.pid)
        assert len(everything) >= 2  # the CLI and `airflow dags test`, which runs the tasks
        stopped = time.monotonic()
        os.killpg(make.pid, signal.SIGTERM)
        output, _ = make.communicate(timeout=60)
        while any(map(_running, everything)) and time.monotonic() - stopped < 30:
            time.sleep(0.1)
        took = time.monotonic() - stopped
        # Named in the failure message: which process outlived the stop, and what it was.
        survivors = {pid: _cmdline(pid) for pid in everything if _running(pid)}
    finally:
        portal.clear_faults()
        for pid in [make.pid, *everything]:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
    print(f"\nSIGTERM during a hung pull: every process ended in {took:.1f}s")
    assert not [pid for pid in everything if _running(pid)]
    assert took < 15, f"still running {took:.0f}s after SIGTERM: {survivors}"
    assert "STOPPED by SIGTERM" in output, output[-3000:]
    assert not (warehouse / "serving.duckdb").exists()
    duckdb.connect(str(warehouse / "warehouse.duckdb")).close()  # the warehouse is free


@pytest.mark.parametrize("listing,message", [
    ("empty", "listed no valid units in /api/v1/units"),
    ("shrunk", "lacks 82 of the 164 units the last night saw (more than COMMUNE_UNITS_MAX_LOSS=0.1"),
])
def test_a_units_listing_empty_or_shrunk_fails_the_night_and_keeps_the_published_warehouse(
        listing, message, private_portal, clean_night):
    warehouse, _ = clean_night
    portal = private_portal
    served = warehouse / "serving.duckdb"
    before = hashlib.sha256(served.read_bytes()).hexdigest()
    portal.set_clock(clock_for(DEMO_AS_OF))
    portal.set_faults(units_listing=listing)
    try:
        result = run_night_cli(DEMO_AS_OF, warehouse, connection_json(portal.url, portal.token))
    finally:
        portal.set_faults(units_listing="as_is")
    assert result.returncode == 1
    error_lines = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1 and message in error_lines[0], result.output[-3000:]
    assert hashlib.sha256(served.read_bytes()).hexdigest() == before
