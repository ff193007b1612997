"""National-scale demo data for the benchmark (``bench/``): every province, years of history.

``build_national_dataset()`` stacks, for each province of the 2025 reference list (34
provinces, 3,321 communes), the province's demo data (``build_province_data``: the July and
August 2025 monthly forms, the task reports and their mess) and a history around it:

- the three monthly forms of every commune for each period from ``first_period`` to
  ``last_period`` other than July and August 2025, filed from the 1st to the 5th of the next
  month (some up to the 10th, a few never), with the trouble real portals have at realistic
  rates: corrections, reports withdrawn and filed again, first versions that break an x-rule
  and are fixed by the next;
- a task report at every month's end from the first task assignment until June 2025 (the
  province's demo data holds the reports from July on);
- every unit active from ``active_from``.

Task codes carry the province (``TW57-25-001``) so that the national catalogue stays unique.

The calendar ends where the benchmark's clock walks: the filings up to September 2025 (period
2025-08) are the history, the filings of October 2025 (period 2025-09) the next nights' new
submissions. The defaults give 12 months of history (from period 2024-09); ``make bench`` asks
for 60 (``first_period="2020-09"``, ``active_from="2020-01-01"``). Every period gets its own
corrections, withdrawals and fixes, so every year has them. Same arguments, same output.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from demo_portal.demo_data import DemoDataset, build_province_data
from demo_portal.monthly_data import (
    MONTHLY_FORMS,
    MONTHLY_PERIODS,
    CommuneProfile,
    commune_profile,
    connectivity_payload,
    digital_skills_payload,
    public_service_payload,
)
from demo_portal.reference import CommuneRow, read_communes, read_province_codes
from demo_portal.submission_log import (
    FORM_PREFIX,
    Payload,
    Record,
    local_time,
    seeded_rng,
    stamp,
)
from demo_portal.task_data import TaskPlan, task_report_payload

FIRST_PERIOD = "2024-09"
LAST_PERIOD = "2025-09"
ACTIVE_FROM = "2024-01-01"
# The last month-end task report the history adds; the province's demo data has the later ones.
LAST_HISTORY_TASK_REPORT = date(2025, 6, 30)
MISSING_RATE = 0.02  # a form a commune never files for a month
BROKEN_FIRST_RATE = 0.006  # version 1 breaks an x-rule, version 2 fixes it
CORRECTION_RATE = 0.04  # version 2 corrects a figure
WITHDRAWN_RATE = 0.004  # withdrawn, then filed again as a new submission


def build_national_dataset(
    provinces: Iterable[str] | None = None,
    first_period: str = FIRST_PERIOD,
    last_period: str = LAST_PERIOD,
    active_from: str = ACTIVE_FROM,
    seed: int = 57,
) -> DemoDataset:
    """Every province's demo data plus the monthly history; same arguments, identical output."""
    units: list[Record] = []
    tasks: list[Record] = []
    submissions: list[Record] = []
    periods = [p for p in month_range(first_period, last_period) if p not in MONTHLY_PERIODS]
    for province in provinces or read_province_codes():
        base, plans = build_province_data(province, seed)
        units += [{**unit, "active_from": active_from} for unit in base.units]
        tasks += [
            {**task, "task_code": national_task_code(task["task_code"], province)} for task in base.tasks
        ]
        taken = {version["submission_id"] for version in base.submissions}
        submissions += [_with_national_task_codes(version, province) for version in base.submissions]
        for commune in read_communes(province):
            submissions += _monthly_history(seed, commune, periods, taken)
        submissions += _task_report_history(seed, province, plans, taken)
    # Every stamp is RFC 3339 at +07:00 to the second, so text order is time order.
    submissions.sort(key=_listing_order)
    return DemoDataset(units=units, tasks=tasks, submissions=submissions)


def _listing_order(version: Record) -> tuple[str, str, int]:
    return version["updated_at"], version["submission_id"], version["version"]


def month_range(first: str, last: str) -> list[str]:
    """The months ``YYYY-MM`` from ``first`` to ``last``, both included."""
    year, month = (int(part) for part in first.split("-"))
    months = []
    while f"{year:04d}-{month:02d}" <= last:
        months.append(f"{year:04d}-{month:02d}")
        year, month = year + month // 12, month % 12 + 1
    return months


def _month_end(month: str) -> date:
    year, number = (int(part) for part in month.split("-"))
    return date(year + number // 12, number % 12 + 1, 1) - timedelta(days=1)


def national_task_code(task_code: str, province: str) -> str:
    """``TW57-001`` of province 25 becomes ``TW57-25-001``."""
    prefix, _, number = task_code.partition("-")
    return f"{prefix}-{province}-{number}"


def _with_national_task_codes(version: Record, province: str) -> Record:
    payload = version.get("payload")
    if version.get("form") != "task_report" or not isinstance(payload, dict):
        return version
    entries = payload.get("tasks")
    if not isinstance(entries, list):
        return version
    renamed = [
        {**entry, "task_code": national_task_code(entry["task_code"], province)}
        if isinstance(entry, dict) and isinstance(entry.get("task_code"), str)
        else entry
        for entry in entries
    ]
    return {**version, "payload": {**payload, "tasks": renamed}}


def _envelope(
    submission_id: str, unit_code: str, form: str, period: str, filed: datetime, payload: Payload
) -> Record:
    """Version 1 of a submission, with the API's envelope (the same as ``SubmissionLog.file``)."""
    moment = stamp(filed)
    return {
        "submission_id": submission_id,
        "unit_code": unit_code,
        "form": form,
        "form_version": 1,
        "period": period,
        "version": 1,
        "status": "submitted",
        "submitted_at": moment,
        "updated_at": moment,
        "payload": payload,
    }


def _next_version(
    previous: Record, updated_at: datetime, payload: Payload | None = None, status: str = "submitted"
) -> Record:
    return {
        **previous,
        "version": previous["version"] + 1,
        "status": status,
        "updated_at": stamp(updated_at),
        "payload": previous["payload"] if payload is None else payload,
    }


def _hours_later(moment: datetime, rng: random.Random, low: int, high: int) -> datetime:
    return moment + timedelta(seconds=rng.randint(low * 3600, high * 3600))


def _filing_times(rng: random.Random, period: str) -> dict[str, datetime]:
    """1st–5th of the next month in office hours (12 % of forms up to the 10th); a fifth of
    the communes send the three forms at once."""
    year, month = (int(part) for part in period.split("-"))
    first = date(year + month // 12, month % 12 + 1, 1)
    if rng.random() < 0.2:
        at_once = local_time(first + timedelta(days=rng.randint(0, 4)), rng.randint(27_000, 63_000))
        return dict.fromkeys(MONTHLY_FORMS, at_once)
    times = {}
    for form in MONTHLY_FORMS:
        day = first + timedelta(days=rng.randint(5, 9) if rng.random() < 0.12 else rng.randint(0, 4))
        times[form] = local_time(day, rng.randint(27_000, 63_000))
    return times


def _payloads(
    seed: int, profile: CommuneProfile, code: str, period: str, dead: tuple[int, int]
) -> dict[str, Payload]:
    return {
        "connectivity_report": connectivity_payload(seed, profile, code, period, dead),
        "digital_skills_report": digital_skills_payload(seed, profile, code, period),
        "public_service_report": public_service_payload(seed, profile, code, period),
    }


def _broken(form: str, payload: Payload) -> Payload:
    """The payload with one x-rule of its form broken."""
    if form == "connectivity_report":
        return {**payload, "households_fiber": payload["households_total"] + 5}
    if form == "digital_skills_report":
        total = payload["participants_officials"] + payload["participants_citizens"]
        return {**payload, "people_completed_basic": total + payload["participants_students"] + 9}
    return {**payload, "dossiers_online": payload["dossiers_received"] + 3}


def _corrected(form: str, payload: Payload) -> Payload:
    """The payload with one figure corrected (every x-rule still holds)."""
    if form == "connectivity_report":
        return {**payload, "households_fiber": max(0, payload["households_fiber"] - 7)}
    if form == "digital_skills_report":
        return {**payload, "vneid_activations": payload["vneid_activations"] + 4}
    return {**payload, "dossiers_processed_on_time": max(0, payload["dossiers_processed_on_time"] - 2)}


def _monthly_history(seed: int, commune: CommuneRow, periods: list[str], taken: set[str]) -> list[Record]:
    """The commune's three monthly forms for each history period, with their later versions."""
    code = commune.commune_code
    profile = commune_profile(seed, commune)
    dead_rng = seeded_rng(seed, "national-dead-zones", code)
    dead = (dead_rng.choice((0, 0, 0, 0, 0, 0, 0, 1, 2)), dead_rng.choice((0, 0, 0, 0, 0, 1, 1, 2, 3)))
    versions: list[Record] = []
    for period in periods:
        rng = seeded_rng(seed, "national-monthly", code, period)
        times = _filing_times(rng, period)
        payloads = _payloads(seed, profile, code, period, dead)
        for form in MONTHLY_FORMS:
            submission_id = f"{FORM_PREFIX[form]}-{code}-{period}"
            if rng.random() < MISSING_RATE or submission_id in taken:
                continue
            payload = payloads[form]
            draw = rng.random()
            if draw < BROKEN_FIRST_RATE:
                first = _envelope(submission_id, code, form, period, times[form], _broken(form, payload))
                versions += [first, _next_version(first, _hours_later(times[form], rng, 3, 60), payload)]
                continue
            first = _envelope(submission_id, code, form, period, times[form], payload)
            versions.append(first)
            draw -= BROKEN_FIRST_RATE
            if draw < CORRECTION_RATE:
                corrected_at = _hours_later(times[form], rng, 24, 200)
                versions.append(_next_version(first, corrected_at, _corrected(form, payload)))
            elif draw < CORRECTION_RATE + WITHDRAWN_RATE:
                withdrawn_at = _hours_later(times[form], rng, 24, 96)
                versions.append(_next_version(first, withdrawn_at, status="withdrawn"))
                refiled = _hours_later(withdrawn_at, rng, 1, 24)
                versions.append(_envelope(f"{submission_id}-2", code, form, period, refiled, payload))
    return versions


def _task_report_history(seed: int, province: str, plans: list[TaskPlan], taken: set[str]) -> list[Record]:
    """A task report at each month's end, from the first assignment until June 2025."""
    by_unit: dict[str, list[TaskPlan]] = {}
    for plan in plans:
        by_unit.setdefault(plan.unit_code, []).append(plan)
    first_month = min(plan.assigned_on for plan in plans).strftime("%Y-%m")
    last_month = LAST_HISTORY_TASK_REPORT.strftime("%Y-%m")
    month_ends = [_month_end(month) for month in month_range(first_month, last_month)]
    versions: list[Record] = []
    for unit_code, unit_plans in sorted(by_unit.items()):
        for period in month_ends:
            submission_id = f"{FORM_PREFIX['task_report']}-{unit_code}-{period.isoformat()}"
            if all(p.assigned_on > period for p in unit_plans) or submission_id in taken:
                continue
            rng = seeded_rng(seed, "national-task-report", unit_code, period)
            day = period + timedelta(days=rng.choice((0, 1, 1, 2, 3)))
            filed = local_time(day, rng.randint(30_600, 61_200))
            payload = task_report_payload(seed, unit_plans, period, {})
            version = _envelope(submission_id, unit_code, "task_report", period.isoformat(), filed, payload)
            versions.append(_with_national_task_codes(version, province))
    return versions
