"""The work of each step of the nightly DAG, as plain functions testable without Airflow.

The DAG file (``dags/commune_nightly.py``) only wires these together.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from commune_dx import landing
from commune_dx.building import build_marts
from commune_dx.loading import load_run, read_unit_codes, read_watermarks, stored_content_hashes
from commune_dx.portal_client import (
    PipelineError,
    PortalClient,
    PortalConfig,
    PortalUnreachable,
    RetryPolicy,
)
from commune_dx.publishing import publish_marts
from commune_dx.pulling import UNIT_CODE_PATTERN, make_batches, pull_batch, reported_code
from commune_dx.settings import LOCAL_TZ, Settings
from commune_dx.validation import Reference, VersionToCheck, iter_validated

log = logging.getLogger(__name__)

# Preflight gives a down portal a few quick tries, then fails the night with one line.
PREFLIGHT_RETRY = RetryPolicy(max_attempts=3, backoff_base=0.5, backoff_max=2.0,
                              connect_timeout=5.0, read_timeout=30.0)


def resolve_as_of_date(param: str | None, logical_date: datetime | None) -> str:
    """The day the night reports on: the param, else the local day before the logical date."""
    if param:
        try:
            return date.fromisoformat(str(param)).isoformat()
        except ValueError as exc:
            raise PipelineError(f"param as_of_date={param!r} is not a date YYYY-MM-DD") from exc
    moment = logical_date or datetime.now(ZoneInfo("UTC"))
    return (moment.astimezone(ZoneInfo(LOCAL_TZ)).date() - timedelta(days=1)).isoformat()


def preflight(config: PortalConfig, settings: Settings, as_of_date: str, key: str) -> list[dict[str, Any]]:
    """Check the portal and the token, snapshot units and tasks, and plan the pull batches.

    Units whose code is not valid are planned too, to be recorded as failed with the reason.
    Raises when ``/units`` is empty or lost more than ``settings.units_max_loss`` of the units
    the last loaded night saw (nothing is pulled then; the published warehouse stays)."""
    remove_expired_files(settings, key)
    with PortalClient(config, retry=PREFLIGHT_RETRY) as client:
        try:
            client.health()
        except PortalUnreachable as exc:
            raise PortalUnreachable(
                f"the portal at {config.base_url} is unreachable ({exc}); check that it is up "
                "and that connection 'commune_portal' points at it"
            ) from exc
        listed = client.list_units()
        tasks = client.list_tasks()
    units: dict[str, dict[str, Any]] = {}
    invalid: dict[str, dict[str, Any]] = {}
    for unit in listed:
        code = unit.get("unit_code") if isinstance(unit, dict) else unit
        if isinstance(code, str) and UNIT_CODE_PATTERN.fullmatch(code):
            units.setdefault(code, unit)
        else:
            invalid.setdefault(reported_code(code), {"unit_code": code, "watermark": None})
    if invalid:
        log.warning("%d unit(s) with invalid codes will be recorded as failed: %s", len(invalid),
                    list(invalid)[:10])
    check_units_listing(set(units), read_unit_codes(settings.working_db), settings.units_max_loss,
                        config.base_url)
    codes = sorted(units)
    # Only task entries the load and validation can read: an object with a text task_code.
    landing.write_snapshots(landing.run_dir(settings.warehouse_dir, key), list(units.values()),
                            [t for t in tasks if isinstance(t, dict) and isinstance(t.get("task_code"), str)])
    watermarks = read_watermarks(settings.working_db)
    batches = make_batches(codes, watermarks, settings.units_per_batch)
    batches[0]["units"].extend(invalid.values())
    log.info("portal %s: %d units, %d tasks, %d batches", config.base_url, len(codes),
             len(tasks), len(batches))
    return batches


def check_units_listing(codes: set[str], last: set[str], max_loss: float, base_url: str) -> None:
    """Raise unless ``/units`` lists units and has lost at most ``max_loss`` of ``last`` (the
    units of the last loaded night): a listing cut short must not shrink every denominator."""
    if not codes:
        raise PipelineError(
            f"the portal at {base_url} listed no valid units in /api/v1/units; the night stops "
            "and the published warehouse stays as it was: check the portal's unit listing"
        )
    lost = sorted(last - codes)
    if last and len(lost) > max_loss * len(last):
        raise PipelineError(
            f"/api/v1/units at {base_url} lacks {len(lost)} of the {len(last)} units the last "
            f"night saw (more than COMMUNE_UNITS_MAX_LOSS={max_loss:g} of them; e.g. "
            f"{', '.join(lost[:5])}); the night stops and the published warehouse stays as it "
            "was: check the portal, or raise COMMUNE_UNITS_MAX_LOSS if the units are really gone"
        )


def remove_expired_files(settings: Settings, current_key: str) -> int:
    """Remove landing runs, night logs and Data Docs validation pages last changed more than
    ``settings.retention_days`` ago (never the current run's landing folder, never the raw
    layer); returns how many were removed."""
    cutoff = time.time() - settings.retention_days * 86_400
    removed = landing.remove_expired_runs(settings.warehouse_dir, current_key, cutoff)
    for folder in (settings.warehouse_dir / "logs", settings.gx_docs_dir / "validations"):
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*"), reverse=True):  # files before their folders
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    if removed:
        log.info("removed %d landing run(s), log(s) and Data Docs page(s) older than %g days "
                 "(COMMUNE_RETENTION_DAYS)", removed, settings.retention_days)
    return removed


def pull(config: PortalConfig, settings: Settings, key: str, batch: dict[str, Any]) -> list[dict[str, Any]]:
    """Pull one batch of units into the run's landing folder."""
    started = time.monotonic()
    results = pull_batch(config, batch, landing.units_dir(landing.run_dir(settings.warehouse_dir, key)),
                         settings)
    failed = [r for r in results if r["outcome"] != "ok"]
    received = sum(r["versions_received"] for r in results)
    log.info("batch %s: %d versions in %.1fs, %d unit(s) failed", batch["label"], received,
             time.monotonic() - started, len(failed))
    for r in failed:
        log.warning("unit %s not received: %s", r["unit_code"], r["error"])
    return results


def validate(settings: Settings, key: str) -> dict[str, int]:
    """Validate the versions the night pulled that are not stored yet; write
    ``validation.jsonl`` (a verdict per distinct new version) and the line map (each landed
    line's sha256) for the load."""
    run_dir = landing.run_dir(settings.warehouse_dir, key)
    units, tasks = landing.read_snapshots(run_dir)
    reference = Reference(
        units={u["unit_code"]: u for u in units}, tasks={t["task_code"]: t for t in tasks}
    )
    # One verdict per distinct content: a version re-sent identically is checked once. The line
    # map tells the load each landed line's sha256 (it need not hash them again). The landing
    # files are read twice rather than held in memory: once for the line map and the hashes,
    # once for the versions to check, one chunk at a time.
    landed: set[str] = set()

    def noted(versions: Iterable[landing.LandedVersion]) -> Iterator[landing.LandedVersion]:
        for version in versions:
            landed.add(version.key)
            yield version

    landing.write_line_map(run_dir, noted(landing.iter_landed_versions(run_dir)))
    # Versions stored on an earlier night (re-sent unchanged) kept the verdict they got then: the
    # load stores nothing for them, so they are not checked again.
    stored = stored_content_hashes(settings.working_db, landed)
    to_check = landed - stored
    landed.clear()

    def first_unchecked() -> Iterator[VersionToCheck]:
        for version in landing.iter_landed_versions(run_dir):
            if version.key in to_check:
                to_check.discard(version.key)
                yield _version_to_check(version.key, version)

    started = time.monotonic()
    counts = {"checked": 0, "invalid": 0}

    def verdicts() -> Iterator[tuple[str, bool, list[str]]]:
        for outcome in iter_validated(first_unchecked(), reference, settings.gx_docs_dir, run_name=key):
            counts["checked"] += 1
            counts["invalid"] += not outcome.is_valid
            yield outcome.key, outcome.is_valid, outcome.reasons

    landing.write_validation(run_dir, verdicts())
    checked, invalid = counts["checked"], counts["invalid"]
    log.info("validated %d versions in %.1fs: %d invalid (quarantined); %d already stored, not "
             "checked again; Data Docs: %s", checked, time.monotonic() - started, invalid,
             len(stored), settings.gx_docs_dir / "index.html")
    return {"versions": checked, "invalid": invalid, "already_stored": len(stored)}


def _version_to_check(key: str, landed: Any) -> VersionToCheck:
    """The landed version to validate; one too deeply nested to parse is checked as unreadable."""
    try:
        return VersionToCheck(key=key, item=landed.item)
    except RecursionError:
        return VersionToCheck(key=key, item={}, unreadable="the record is nested too deeply to read")


def load(settings: Settings, key: str, run_id: str, as_of_date: str,
         pull_results: list[dict[str, Any]]) -> dict[str, int]:
    stats = load_run(settings.working_db, landing.run_dir(settings.warehouse_dir, key), run_id, as_of_date,
                     pull_results, settings.load_commit_delay_seconds)
    log.info("loaded %(versions_landed)d versions, %(versions_new)d new", stats)
    return stats


def dbt_build(settings: Settings, as_of_date: str) -> dict[str, Any]:
    """Build the marts with dbt inside this task (build, source freshness, docs; see
    :mod:`commune_dx.building`); raise with dbt's failures if the build is red. When it
    returns, dbt has closed the warehouse and left nothing running."""
    started = time.monotonic()
    build_marts(settings, as_of_date)
    seconds = time.monotonic() - started
    log.info("dbt build green in %.1fs (dbt docs: %s)", seconds, settings.dbt_docs_dir / "index.html")
    return {"seconds": round(seconds, 1)}


def publish(settings: Settings, as_of_date: str) -> dict[str, Any]:
    """Publish serving.duckdb, Parquet marts and the HTML report."""
    from commune_dx.report import write_report

    counts = publish_marts(settings.working_db, settings.serving_db, settings.parquet_dir,
                           settings.exports_dir)
    write_report(settings.serving_db, settings.report_path, as_of_date)
    log.info("published %s (%d marts), %s and %s", settings.serving_db, len(counts),
             settings.parquet_dir, settings.report_path)
    return {"serving_db": str(settings.serving_db), "tables": counts}
