"""Plain parts of the nightly steps: the night's as-of date, the /units guard and the retention of
landing runs, logs and Data Docs pages."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from commune_dx import landing
from commune_dx.nightly import check_units_listing, remove_expired_files
from commune_dx.portal_client import PipelineError
from commune_dx.settings import Settings

LAST = {f"{i:05d}" for i in range(100)}


def test_an_empty_units_listing_stops_the_night():
    with pytest.raises(PipelineError, match="listed no valid units"):
        check_units_listing(set(), LAST, 0.1, "http://portal")
    with pytest.raises(PipelineError, match="listed no valid units"):
        check_units_listing(set(), set(), 0.1, "http://portal")  # the first night too


def test_a_units_listing_that_shrank_sharply_stops_the_night():
    kept = set(sorted(LAST)[:89])
    with pytest.raises(PipelineError, match=r"lacks 11 of the 100 units .*COMMUNE_UNITS_MAX_LOSS=0.1"):
        check_units_listing(kept, LAST, 0.1, "http://portal")


def test_a_units_listing_within_the_allowed_loss_or_growing_passes():
    check_units_listing(set(sorted(LAST)[:90]), LAST, 0.1, "http://portal")
    check_units_listing(LAST | {"99999"}, LAST, 0.1, "http://portal")
    check_units_listing({"00001"}, set(), 0.1, "http://portal")  # nothing to compare with yet


def _age(path: Path, days: float) -> None:
    then = time.time() - days * 86_400
    os.utime(path, (then, then))


def test_files_older_than_the_retention_are_removed_and_the_raw_layer_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("WAREHOUSE_DIR", str(tmp_path))
    monkeypatch.setenv("COMMUNE_RETENTION_DAYS", "30")
    settings = Settings.from_env()
    old_run, new_run, current = (landing.run_dir(tmp_path, name) for name in ("old", "new", "current"))
    for run in (old_run, new_run, current):
        landing.write_snapshots(run, [], [])
    logs = settings.warehouse_dir / "logs"
    old_log, new_log = logs / "night-2025-08-01.log", logs / "night-2025-09-21.log"
    page = settings.gx_docs_dir / "validations" / "suite" / "run" / "page.html"
    for path in (old_log, new_log, page, settings.gx_docs_dir / "index.html", settings.working_db):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    for path in (old_run, current, old_log, page, settings.gx_docs_dir / "index.html", settings.working_db):
        _age(path, 31)
    assert remove_expired_files(settings, "current") == 3
    assert not old_run.exists() and not old_log.exists() and not page.parent.parent.exists()
    assert new_run.exists() and current.exists() and new_log.exists()
    assert settings.working_db.exists() and (settings.gx_docs_dir / "index.html").exists()


def test_as_of_defaults_to_the_local_day_before_the_logical_date():
    from commune_dx.nightly import resolve_as_of_date

    # 18:30 UTC on 21 Sep is 01:30 on 22 Sep in Hà Nội: the last complete local day is the 21st.
    assert resolve_as_of_date(None, datetime(2025, 9, 21, 18, 30, tzinfo=UTC)) == "2025-09-21"
    assert resolve_as_of_date("2025-09-01", None) == "2025-09-01"
    with pytest.raises(PipelineError, match="not a date"):
        resolve_as_of_date("21/09/2025", None)
