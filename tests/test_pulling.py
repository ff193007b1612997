"""The pull: connection parsing, unit-code safety, batching, and hostile units of the real demo
portal."""

from __future__ import annotations

import signal
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from commune_dx.landing import run_key
from commune_dx.portal_client import ConnectionConfigError, PipelineError, PortalClient, PortalConfig
from commune_dx.pulling import make_batches, pull_batch, pull_unit, safe_unit_code
from commune_dx.settings import Settings
from demo_portal.faults import HOSTILE_MODES
from demo_portal.server import start_demo_portal


@pytest.mark.parametrize(
    "host,password,message",
    [
        (None, "t", "has no host"),
        ("ftp://portal", "t", r"is not an http\(s\) URL"),
        ("http://", "t", r"is not an http\(s\) URL"),
        ("http://portal:99999", "t", "invalid port"),
        ("http://portal", None, "has no password"),
    ],
)
def test_malformed_connection_is_named(host, password, message):
    with pytest.raises(ConnectionConfigError, match=message):
        PortalConfig.from_connection_fields("commune_portal", host, password)


def test_connection_host_forms():
    assert PortalConfig.from_connection_fields("c", "http://h:8765/", "t").base_url == "http://h:8765"
    assert PortalConfig.from_connection_fields("c", "h", "t", port=8765).base_url == "http://h:8765"


@pytest.mark.parametrize("code", ["../etc/passwd", "25/01", "", ".hidden", "a" * 65, "25 01", None])
def test_unsafe_unit_codes_never_become_paths(code):
    with pytest.raises(PipelineError, match="not a valid unit code"):
        safe_unit_code(code)


def test_safe_unit_codes_pass():
    assert safe_unit_code("00004") == "00004"
    assert safe_unit_code("A25-SKHCN") == "A25-SKHCN"


def test_batches_cover_every_unit_once_with_watermarks():
    codes = [f"{i:05d}" for i in range(3321)]
    batches = make_batches(codes, {"00007": ("2025-09-01T00:00:00+00:00", "S9")}, 150)
    assert len(batches) == 23  # well under Airflow's max_map_length of 1,024
    assert max(len(b["units"]) for b in batches) <= 150
    flat = [u["unit_code"] for b in batches for u in b["units"]]
    assert flat == codes
    marked = [u for b in batches for u in b["units"] if u["watermark"]]
    assert marked == [{"unit_code": "00007", "watermark": ["2025-09-01T00:00:00+00:00", "S9"]}]


def test_no_units_no_batches():
    assert make_batches([], {}, 150) == []


def test_run_key_is_file_safe():
    assert run_key("2025-09-21", "manual__2025-09-22T01:00:00+07:00") == (
        "2025-09-21__manual__2025-09-22T01_00_00_07_00"
    )


# -- pulling against hostile units of the real demo portal (issue 16) -------------------------

CLOCK = "2025-09-22T01:00:00+07:00"


@pytest.fixture()
def hostile_portal():
    with start_demo_portal(token="t", now=CLOCK) as running:
        yield running


def small_budget_settings(monkeypatch, tmp_path: Path, **env: str) -> Settings:
    monkeypatch.setenv("WAREHOUSE_DIR", str(tmp_path))
    for name, value in {"COMMUNE_UNIT_MAX_SECONDS": "3", "COMMUNE_UNIT_MAX_PAGES": "5",
                        "COMMUNE_MAX_ATTEMPTS": "2", **env}.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env()


def test_every_hostile_unit_ends_with_its_reason_and_the_others_are_pulled(hostile_portal, monkeypatch,
                                                                            tmp_path):
    portal = hostile_portal
    codes = [u["unit_code"] for u in portal.dataset.units]
    modes = dict(zip(codes, HOSTILE_MODES, strict=False))
    good = codes[len(modes):len(modes) + 5]
    portal.set_faults(hostile_units=modes, drip_ms=50)
    settings = small_budget_settings(monkeypatch, tmp_path)
    batch = {"label": "all", "units": [{"unit_code": c, "watermark": None} for c in [*modes, *good]]
             + [{"unit_code": "../etc", "watermark": None}, {"unit_code": None, "watermark": None}]}
    started = time.monotonic()
    results = {r["unit_code"]: r for r in pull_batch(PortalConfig(portal.url, "t"), batch,
                                                       tmp_path / "units", settings)}
    assert time.monotonic() - started < 20
    failed = {modes.get(code, code): r["error"] for code, r in results.items() if r["outcome"] == "failed"}
    assert set(failed) == {"repeat_token", "stuck_cursor", "drip", "huge_error", "deep_json",
                           "item_not_object", "bad_unicode", "../etc", "null"}
    assert "a second time" in failed["repeat_token"]
    assert "COMMUNE_UNIT_MAX_PAGES" in failed["stuck_cursor"]
    assert "COMMUNE_UNIT_MAX_SECONDS" in failed["drip"]
    assert "not a valid unit code" in failed["../etc"] and "not a valid unit code" in failed["null"]
    for code in good:
        assert results[code]["outcome"] == "ok" and results[code]["versions_received"] > 0


def test_a_version_dated_after_the_portals_clock_is_flagged_and_never_becomes_the_watermark(
        hostile_portal, tmp_path):
    portal = hostile_portal
    unit = portal.dataset.units[0]["unit_code"]
    portal.set_clock("2025-08-15T01:00:00+07:00")
    portal.set_faults(hostile_units={unit: "future_version"})
    with PortalClient(PortalConfig(portal.url, "t")) as client:
        first = pull_unit(client, {"unit_code": unit, "watermark": None}, tmp_path, 500)
    assert first.outcome == "ok"
    assert "dated after the portal's clock 2025-08-14T18:00:00+00:00" in first.note
    times = sorted(datetime.fromisoformat(s["updated_at"]) for s in portal.dataset.submissions
                   if s["unit_code"] == unit)
    clock = datetime.fromisoformat("2025-08-15T01:00:00+07:00")
    assert datetime.fromisoformat(first.watermark[0]) == max(t for t in times if t <= clock)
    # The next night, from that watermark, still receives what the unit published since.
    portal.set_clock(CLOCK)
    with PortalClient(PortalConfig(portal.url, "t")) as client:
        later = pull_unit(client, {"unit_code": unit, "watermark": first.watermark}, tmp_path, 500)
    newer = [t for t in times if clock < t <= datetime.fromisoformat(CLOCK)]
    assert newer and later.versions_received >= len(newer)
    assert datetime.fromisoformat(later.watermark[0]) == max(newer)


def test_a_pull_stopped_from_outside_ends_within_seconds(hostile_portal, monkeypatch, tmp_path):
    """Airflow's task timeout and SIGTERM raise in the task's main thread: the pull ends, and
    its workers with it, though a unit is hanging on a dripping response."""
    portal = hostile_portal
    codes = [u["unit_code"] for u in portal.dataset.units][:4]
    portal.set_faults(hostile_units={code: "drip" for code in codes}, drip_ms=200)
    settings = small_budget_settings(monkeypatch, tmp_path, COMMUNE_UNIT_MAX_SECONDS="600")
    batch = {"label": "hung", "units": [{"unit_code": c, "watermark": None} for c in codes]}

    def timeout(signum, frame):
        raise TimeoutError("the task's timeout")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    started = time.monotonic()
    try:
        with pytest.raises(TimeoutError):
            pull_batch(PortalConfig(portal.url, "t"), batch, tmp_path / "units", settings)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < 3
    deadline = time.monotonic() + 3
    while any(t.name.startswith("pull-") for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("pull-")]
