"""Pulling each unit's submission versions into the landing zone.

Each unit lands in one ``<unit_code>.jsonl`` of the run's landing folder (see
:mod:`commune_dx.landing`): every version exactly as received, one JSON object a line. A unit's
file appears (atomic write) only once all its pages are in, or, when the unit fails midway, with
the pages received before the failure: those are loaded and the unit's watermark advances over
them, so the next night resumes from there.

A unit's watermark comes from its own listing only and never passes the portal's clock at the
start of its pull (its Date header): a version dated later is flagged in the unit's pull
status (``note``) and fetched again each night until its time has come, instead of silencing
the unit. Each unit is pulled within a budget (:class:`~commune_dx.portal_client.PullBudget`).
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from commune_dx.landing import unit_writer
from commune_dx.portal_client import (
    PipelineError,
    PortalAuthError,
    PortalClient,
    PortalConfig,
    PullBudget,
    RetryPolicy,
)
from commune_dx.settings import Settings
from commune_dx.timestamps import parse_rfc3339

log = logging.getLogger(__name__)

UNIT_CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
# The API's updated_since is exclusive; asking from one second before the watermark costs a
# few duplicates (dropped by the idempotent load) and can never miss a same-instant record.
WATERMARK_OVERLAP = timedelta(seconds=1)


@dataclass
class UnitPullResult:
    """What pulling one unit produced; travels through XCom, so JSON-friendly."""

    unit_code: str
    outcome: str  # "ok" or "failed"
    versions_received: int
    error: str | None
    seconds: float
    # (updated_at ISO text, submission_id) of the latest version of its listing up to the
    # portal's clock; None when it listed none
    watermark: list[str] | None = None
    note: str | None = None  # what the load should know though the pull went well


def reported_code(unit_code: Any) -> str:
    """A unit code as the pull status records it: the code itself, or the JSON text of a
    value that is not a string (null, a number)."""
    return unit_code if isinstance(unit_code, str) else json.dumps(unit_code)


def failed_unit(unit_code: Any, error: str) -> UnitPullResult:
    """The result of a unit that could not be pulled at all."""
    return UnitPullResult(reported_code(unit_code), "failed", 0, error, 0.0)


def safe_unit_code(unit_code: str) -> str:
    """Return ``unit_code`` if it is safe as a file name, else raise naming the bad code."""
    if not isinstance(unit_code, str) or not UNIT_CODE_PATTERN.fullmatch(unit_code):
        raise PipelineError(
            f"unit code {unit_code!r} from the portal is not a valid unit code "
            "(letters, digits, '-' and '_', at most 64 characters)"
        )
    return unit_code


def make_batches(
    unit_codes: list[str], watermarks: dict[str, tuple[str, str]], units_per_batch: int
) -> list[dict[str, Any]]:
    """Split units into even batches of at most ``units_per_batch`` for the mapped pull; each
    unit carries its watermark. Few, large batches, since each mapped task costs a process and
    Airflow's bookkeeping (``bench/`` measures it); the default, 1,000, makes the country's
    3,337 units four batches, one per slot of pool ``commune_portal``."""
    if not unit_codes:
        return []
    count = -(-len(unit_codes) // max(1, units_per_batch))
    size = -(-len(unit_codes) // count)
    batches = []
    for start in range(0, len(unit_codes), size):
        codes = unit_codes[start : start + size]
        batches.append(
            {
                "label": f"{codes[0]}…{codes[-1]} ({len(codes)} units)",
                "units": [
                    {"unit_code": code, "watermark": list(watermarks[code]) if code in watermarks else None}
                    for code in codes
                ],
            }
        )
    return batches


def pull_unit(
    client: PortalClient, unit: dict[str, Any], out_dir: Path, page_limit: int,
    budget: PullBudget | None = None,
) -> UnitPullResult:
    """Pull one unit from its watermark into ``out_dir/<unit_code>.jsonl``, within ``budget``.
    Never raises for anything the unit's answers do (the unit is reported failed with the
    reason), only for a refused token, which no unit can get past."""
    started = time.monotonic()
    try:
        code = safe_unit_code(unit["unit_code"])
    except PipelineError as exc:
        return failed_unit(unit["unit_code"], str(exc))
    since = None
    if unit.get("watermark"):
        since = datetime.fromisoformat(unit["watermark"][0]) - WATERMARK_OVERLAP
    received = 0
    error = None
    clock: datetime | None = None
    latest: tuple[datetime, str] | None = None
    future: list[datetime] = []
    with unit_writer(out_dir, code) as fh:
        try:
            for page in client.iter_submission_pages(code, since, limit=page_limit, budget=budget):
                if clock is None:  # the portal's clock at the start of the pull
                    clock = page.served_at or datetime.now(UTC)
                for record in page.records:
                    fh.write(record)
                    fh.write(b"\n")
                received += len(page.records)
                for item in page.items:
                    updated = parse_rfc3339(item.get("updated_at"))
                    if updated is None:
                        continue  # quarantined by validation; never a watermark
                    if updated > clock:
                        future.append(updated)
                    elif latest is None or (updated, str(item.get("submission_id"))) > latest:
                        latest = (updated, str(item.get("submission_id")))
        except PortalAuthError:
            raise
        except PipelineError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 (one unit's surprise must not end the batch)
            log.exception("unit %s: unexpected error while pulling", code)
            error = f"unexpected {type(exc).__name__} while pulling: {str(exc)[:200]}"
    note = None
    if future:
        note = (
            f"{len(future)} version(s) dated after the portal's clock {clock.isoformat()} "
            f"(latest {max(future).isoformat()}): kept out of the watermark, fetched again "
            "each night; ask the portal to correct its clock or the records"
        )
    return UnitPullResult(
        unit_code=code,
        outcome="failed" if error else "ok",
        versions_received=received,
        error=error,
        seconds=round(time.monotonic() - started, 3),
        watermark=[latest[0].isoformat(), latest[1]] if latest else None,
        note=note,
    )


def pull_batch(
    config: PortalConfig, batch: dict[str, Any], out_dir: Path, settings: Settings,
    stop: threading.Event | None = None,
) -> list[dict[str, Any]]:
    """Pull every unit of a batch, ``settings.pull_threads`` at a time; one unit's failure
    does not affect the others. Returns one :class:`UnitPullResult` dict per unit.

    The workers are daemon threads: when the task is stopped (SIGTERM, Airflow's timeout)
    ``stop`` is set, they end at their next read or wait, and none keeps the process alive."""
    out_dir.mkdir(parents=True, exist_ok=True)
    retry = RetryPolicy(max_attempts=settings.max_attempts)
    budget = settings.pull_budget
    stop = stop or threading.Event()
    units = batch["units"]
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in range(len(units)):
        todo.put(index)
    results: list[UnitPullResult | None] = [None] * len(units)
    refused: list[PortalAuthError] = []

    def work() -> None:
        # One client (one keep-alive connection) per worker, reused for its units: a client
        # per unit cost a new connection and session each.
        with PortalClient(config, retry=retry, max_page_bytes=settings.max_page_bytes,
                          max_submission_bytes=settings.max_submission_bytes, stop=stop) as client:
            while not stop.is_set():
                try:
                    index = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    results[index] = pull_unit(client, units[index], out_dir, settings.page_limit,
                                               budget)
                except PortalAuthError as exc:
                    refused.append(exc)
                    stop.set()

    workers = [threading.Thread(target=work, name=f"pull-{i}", daemon=True)
               for i in range(max(1, min(settings.pull_threads, len(units))))]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        stop.set()  # on SIGTERM or a timeout in this thread, the workers end too
    if refused:
        raise refused[0]
    missing = [units[i]["unit_code"] for i, r in enumerate(results) if r is None]
    if missing:
        raise PipelineError(f"the pull stopped before {len(missing)} unit(s) were pulled")
    return [asdict(r) for r in results if r is not None]
