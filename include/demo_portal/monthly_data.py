"""The communes' monthly forms in the demo: connectivity, digital skills, public services.

Every commune files the three forms for July and August 2025 in the first days of the next
month (some late, a few not at all). The counted August connectivity reports add up to
``DEAD_ZONE_VILLAGES_2025_08`` villages without or with weak mobile signal; the mess added on
top (corrections, duplicates, withdrawals, invalid versions) keeps it so under MARTS.md's rules.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from demo_portal.reference import CommuneRow
from demo_portal.submission_log import (
    Payload,
    RolePicker,
    SubmissionLog,
    later,
    local_time,
    parse_stamp,
    seeded_rng,
)

MONTHLY_PERIODS = ("2025-07", "2025-08")
MONTHLY_FORMS = ("connectivity_report", "digital_skills_report", "public_service_report")
# (villages_no_signal, villages_weak_signal) of the communes with dead zones in August 2025;
# the sum is the province's published figure.
DEAD_ZONES_2025_08 = ((1, 3), (0, 2), (2, 2), (0, 1), (1, 2), (0, 3), (1, 1), (0, 2), (0, 3))
DEAD_ZONE_VILLAGES_2025_08 = 24


def _month_after(period: str) -> date:
    """The first day of the month after ``YYYY-MM``."""
    year, month = (int(part) for part in period.split("-"))
    return date(year + month // 12, month % 12 + 1, 1)


@dataclass(frozen=True)
class CommuneRoles:
    """Which communes play which part in the monthly-form data (all distinct)."""

    dead_zones: dict[str, tuple[int, int]]
    cleared_in_august: str
    invalid_newer: str
    withdrawn_duplicate: str
    form_version_2: str
    future_period: str
    missing_field: str
    type_error: str
    negative_count: str
    sessions_rule: str
    malformed_period: str
    withdrawn: str
    xrule_broken: str
    extra_field: str
    corrected: str
    valid_duplicate: str
    skip_august: tuple[str, ...]
    skip_one: tuple[tuple[str, str, str], ...]
    very_late: str
    deadline_edge: tuple[str, str]
    bulk_upload: tuple[str, ...]


def assign_commune_roles(seed: int, communes: list[CommuneRow]) -> CommuneRoles:
    """Deal the monthly-form roles to distinct communes in a seeded order."""
    picker = RolePicker(seeded_rng(seed, "commune-roles"), [c.commune_code for c in communes])
    dead = picker.take(len(DEAD_ZONES_2025_08))
    named = picker.take(15)
    skip_one_units = picker.take(4)
    skip_one_slots = (
        ("connectivity_report", "2025-07"),
        ("digital_skills_report", "2025-08"),
        ("public_service_report", "2025-07"),
        ("public_service_report", "2025-08"),
    )
    return CommuneRoles(
        dead_zones=dict(zip(dead, DEAD_ZONES_2025_08, strict=True)),
        cleared_in_august=named[0],
        invalid_newer=named[1],
        withdrawn_duplicate=named[2],
        form_version_2=named[3],
        future_period=named[4],
        missing_field=named[5],
        type_error=named[6],
        negative_count=named[7],
        sessions_rule=named[8],
        malformed_period=named[9],
        withdrawn=named[10],
        xrule_broken=named[11],
        extra_field=named[12],
        corrected=named[13],
        valid_duplicate=named[14],
        skip_august=tuple(picker.take(3)),
        skip_one=tuple(
            (code, form, period) for code, (form, period) in zip(skip_one_units, skip_one_slots, strict=True)
        ),
        very_late=picker.pick(),
        deadline_edge=(picker.pick(), picker.pick()),
        bulk_upload=tuple(picker.take(3)),
    )


@dataclass(frozen=True)
class CommuneProfile:
    """The slowly changing facts behind a commune's monthly numbers."""

    population: int
    villages_total: int
    households_total: int
    fiber_share: float
    computers_total: int
    computers_outdated: int
    bandwidth_mbps: int


def commune_profile(seed: int, commune: CommuneRow) -> CommuneProfile:
    rng = seeded_rng(seed, "profile", commune.commune_code)
    population = commune.population or rng.randint(8_000, 30_000)
    computers = rng.randint(25, 70)
    return CommuneProfile(
        population=population,
        villages_total=max(8, round(population / rng.uniform(900, 1_600))),
        households_total=round(population / rng.uniform(3.4, 4.1)),
        fiber_share=rng.uniform(0.55, 0.92),
        computers_total=computers,
        computers_outdated=round(computers * rng.uniform(0.0, 0.3)),
        bandwidth_mbps=rng.choice((100, 150, 200, 300, 500)),
    )


def _dead_zones(roles: CommuneRoles, code: str, period: str) -> tuple[int, int]:
    """(no signal, weak signal) villages; July had a few more than August."""
    no_signal, weak = roles.dead_zones.get(code, (0, 0))
    if period == "2025-07":
        if code == roles.cleared_in_august:
            return 0, 2
        if code in roles.dead_zones:
            return no_signal, weak + sorted(roles.dead_zones).index(code) % 2
    return no_signal, weak


def connectivity_payload(
    seed: int, profile: CommuneProfile, code: str, period: str, dead: tuple[int, int]
) -> Payload:
    """A connectivity_report for one commune and month."""
    rng = seeded_rng(seed, "connectivity_report", code, period)
    month = MONTHLY_PERIODS.index(period) if period in MONTHLY_PERIODS else 0
    fiber_share = min(0.98, profile.fiber_share + 0.01 * month)
    return {
        "villages_total": profile.villages_total,
        "villages_no_signal": dead[0],
        "villages_weak_signal": dead[1],
        "households_total": profile.households_total,
        "households_fiber": round(profile.households_total * fiber_share),
        "office_computers_total": profile.computers_total,
        "office_computers_outdated": max(0, profile.computers_outdated - month),
        "office_bandwidth_mbps": profile.bandwidth_mbps,
        "internet_outage_hours": rng.choice((0, 0, 0, 0.5, 1.5, 2, 3.5, 6, 12.5, 24)),
    }


def digital_skills_payload(seed: int, profile: CommuneProfile, code: str, period: str) -> Payload:
    """A digital_skills_report ("Bình dân học vụ số") for one commune and month."""
    rng = seeded_rng(seed, "digital_skills_report", code, period)
    vneid = rng.randint(10, max(20, profile.population // 150))
    if rng.random() < 0.07:
        sessions = officials = citizens = students = completed = 0
    else:
        sessions = rng.randint(1, 12)
        officials = rng.randint(5, 45)
        citizens = rng.randint(30, 30 + profile.population // 60)
        students = rng.randint(0, 250)
        completed = round((officials + citizens + students) * rng.uniform(0.25, 0.7))
    return {
        "sessions_held": sessions,
        "participants_officials": officials,
        "participants_citizens": citizens,
        "participants_students": students,
        "people_completed_basic": completed,
        "vneid_activations": vneid,
    }


def public_service_payload(seed: int, profile: CommuneProfile, code: str, period: str) -> Payload:
    """A public_service_report (one-stop centre dossiers) for one commune and month."""
    rng = seeded_rng(seed, "public_service_report", code, period)
    received = max(20, round(profile.population / 60 * rng.uniform(0.6, 1.4)))
    online = round(received * rng.uniform(0.55, 0.95))
    processed = round(received * rng.uniform(0.85, 1.0))
    return {
        "dossiers_received": received,
        "dossiers_online": online,
        "dossiers_full_online": round(online * rng.uniform(0.35, 0.8)),
        "dossiers_processed": processed,
        "dossiers_processed_on_time": round(processed * rng.uniform(0.9, 1.0)),
    }


def _monthly_times(seed: int, code: str, period: str, roles: CommuneRoles) -> dict[str, datetime]:
    """When a commune files each monthly form: 1st–5th of the next month, some up to the 10th."""
    rng = seeded_rng(seed, "monthly-time", code, period)
    first = _month_after(period)
    if code == roles.very_late and period == "2025-07":
        start = local_time(first + timedelta(days=13), 9 * 3600)
        return {form: start + timedelta(minutes=7 * i) for i, form in enumerate(MONTHLY_FORMS)}
    if code in roles.deadline_edge and period == "2025-08":
        # The last on-time second and the first late one (5th, 23:59:59 local).
        edge = local_time(first + timedelta(days=5), -1 + roles.deadline_edge.index(code))
        return dict.fromkeys(MONTHLY_FORMS, edge)
    if rng.random() < 0.2:  # all three forms sent in one go: identical timestamps
        day = first + timedelta(days=rng.randint(0, 4))
        times = dict.fromkeys(MONTHLY_FORMS, local_time(day, rng.randint(27_000, 63_000)))
    else:
        times = {}
        for form in MONTHLY_FORMS:
            late = rng.random() < 0.12
            day = first + timedelta(days=rng.randint(5, 9) if late else rng.randint(0, 4))
            times[form] = local_time(day, rng.randint(27_000, 63_000))
    if code in roles.bulk_upload and period == "2025-08":
        # A district office uploads several communes' service reports at the same second.
        times["public_service_report"] = local_time(first + timedelta(days=2), 9 * 3600)
    return times


def _skipped(roles: CommuneRoles, code: str, form: str, period: str) -> bool:
    return (period == "2025-08" and code in roles.skip_august) or (code, form, period) in roles.skip_one


def file_monthly_reports(
    log: SubmissionLog, seed: int, communes: list[CommuneRow], roles: CommuneRoles
) -> None:
    """Every commune files the three monthly forms for July and August, bar the skipped ones."""
    for commune in communes:
        code = commune.commune_code
        profile = commune_profile(seed, commune)
        for period in MONTHLY_PERIODS:
            times = _monthly_times(seed, code, period, roles)
            payloads = {
                "connectivity_report": connectivity_payload(
                    seed, profile, code, period, _dead_zones(roles, code, period)
                ),
                "digital_skills_report": digital_skills_payload(seed, profile, code, period),
                "public_service_report": public_service_payload(seed, profile, code, period),
            }
            for form in MONTHLY_FORMS:
                if not _skipped(roles, code, form, period):
                    log.file(code, form, period, times[form], payloads[form])


def _break_first_then_fix(
    log: SubmissionLog,
    rng: random.Random,
    submission_id: str,
    breaker: Callable[[Payload], None],
    hours: tuple[int, int] = (3, 60),
) -> None:
    """Version 1 was wrong (``breaker`` spoils it); version 2 publishes the clean payload."""
    first = log.first(submission_id)
    clean = copy.deepcopy(first["payload"])
    breaker(first["payload"])
    log.republish(submission_id, later(first["updated_at"], rng, *hours), clean)


def add_monthly_mess(log: SubmissionLog, seed: int, roles: CommuneRoles) -> None:
    """Corrections, duplicates, withdrawals and invalid versions on the monthly forms.

    The counted August connectivity reports still sum to DEAD_ZONE_VILLAGES_2025_08 dead-zone
    villages when the rules are applied.
    """
    rng = seeded_rng(seed, "monthly-mess")
    aug, jul = "2025-08", "2025-07"
    conn, skills, service = MONTHLY_FORMS
    dead = sorted(roles.dead_zones)

    # A correction that lowers the dead zones: the first count was one village too many.
    corrected = log.regular(dead[0], conn, aug)
    first = log.first(corrected)
    clean = copy.deepcopy(first["payload"])
    first["payload"]["villages_no_signal"] += 1
    log.republish(corrected, later(first["updated_at"], rng, 24, 96), clean)

    _rule_three_trap(log, rng, dead[1])

    # A newer version that breaks an x-rule (more dead villages than villages): v1 counts.
    invalid = log.regular(roles.invalid_newer, conn, aug)
    payload = copy.deepcopy(log.latest(invalid)["payload"])
    payload["villages_no_signal"] = payload["villages_total"] + 3
    log.republish(invalid, later(log.latest(invalid)["updated_at"], rng, 24, 120), payload)

    _extra_dead_zone_duplicates(log, rng, roles)

    _break_first_then_fix(
        log,
        rng,
        log.regular(roles.missing_field, conn, jul),
        lambda p: p.pop("internet_outage_hours"),
    )
    _break_first_then_fix(
        log,
        rng,
        log.regular(roles.type_error, skills, aug),
        lambda p: p.update(sessions_held=str(p["sessions_held"])),
    )
    negative = log.first(log.regular(roles.negative_count, skills, jul))
    negative["payload"]["participants_citizens"] = -max(1, negative["payload"]["participants_citizens"])
    sessions_rule = log.first(log.regular(roles.sessions_rule, skills, aug))
    sessions_rule["payload"].update(sessions_held=0, participants_officials=12)
    _malformed_period(log, rng, roles.malformed_period)
    withdrawn = log.regular(roles.withdrawn, skills, jul)
    log.republish(withdrawn, later(log.latest(withdrawn)["updated_at"], rng, 48, 200), status="withdrawn")

    broken = log.first(log.regular(roles.xrule_broken, service, aug))["payload"]
    broken["dossiers_online"] = broken["dossiers_received"] + 7
    _break_first_then_fix(
        log,
        rng,
        log.regular(roles.extra_field, service, jul),
        lambda p: p.update(ghi_chu="Số liệu tạm tính"),  # "provisional figures"
    )
    changed = log.regular(roles.corrected, service, aug)
    payload = copy.deepcopy(log.latest(changed)["payload"])
    payload["dossiers_processed_on_time"] = max(0, payload["dossiers_processed_on_time"] - 4)
    log.republish(changed, later(log.latest(changed)["updated_at"], rng, 24, 120), payload)
    _valid_duplicate(log, rng, roles.valid_duplicate)


def _rule_three_trap(log: SubmissionLog, rng: random.Random, code: str) -> None:
    """Two valid August connectivity reports; the first one's correction is the latest version.

    Rule 3 picks the report whose *counted version* is latest: the corrected first report, not
    the second report that was filed later than the first's version 1.
    """
    regular = log.regular(code, "connectivity_report", "2025-08")
    first = log.first(regular)
    second_payload = copy.deepcopy(first["payload"])
    second_payload["villages_no_signal"] += 1
    second_payload["villages_weak_signal"] += 2
    filed_at = later(first["updated_at"], rng, 30, 50)
    log.file(code, "connectivity_report", "2025-08", filed_at, second_payload, suffix="-2")
    corrected = copy.deepcopy(first["payload"])
    corrected["households_fiber"] -= 3
    log.republish(regular, later(filed_at, rng, 20, 40), corrected)


def _extra_dead_zone_duplicates(log: SubmissionLog, rng: random.Random, roles: CommuneRoles) -> None:
    """Later duplicates claiming more dead zones: one withdrawn, one on form_version 2, one
    for a month that has not begun. None of them counts."""
    for code, form_version in ((roles.withdrawn_duplicate, 1), (roles.form_version_2, 2)):
        regular = log.latest(log.regular(code, "connectivity_report", "2025-08"))
        payload = copy.deepcopy(regular["payload"])
        payload["villages_no_signal"] += 2
        payload["villages_weak_signal"] += 3
        filed_at = later(regular["updated_at"], rng, 24, 72)
        duplicate = log.file(
            code, "connectivity_report", "2025-08", filed_at, payload, suffix="-2", form_version=form_version
        )
        if form_version == 1:
            log.republish(duplicate, later(filed_at, rng, 24, 72), status="withdrawn")
    regular = log.latest(log.regular(roles.future_period, "connectivity_report", "2025-08"))
    payload = copy.deepcopy(regular["payload"])
    payload["villages_weak_signal"] += 4
    log.file(
        roles.future_period, "connectivity_report", "2025-10", local_time(date(2025, 9, 20), 36_000), payload
    )


def _malformed_period(log: SubmissionLog, rng: random.Random, code: str) -> None:
    """The August skills report first filed under period ``2025-8``, then again properly."""
    regular = log.regular(code, "digital_skills_report", "2025-08")
    first = log.first(regular)
    early = parse_stamp(first["submitted_at"]) - timedelta(hours=rng.randint(2, 20))
    log.file(
        code,
        "digital_skills_report",
        "2025-8",
        max(early, local_time(date(2025, 9, 1), 27_000)),
        first["payload"],
    )


def _valid_duplicate(log: SubmissionLog, rng: random.Random, code: str) -> None:
    """The July service report filed twice; the later one (other numbers) wins rule 3."""
    regular = log.latest(log.regular(code, "public_service_report", "2025-07"))
    payload = copy.deepcopy(regular["payload"])
    payload["dossiers_received"] += 5
    payload["dossiers_processed"] += 5
    payload["dossiers_processed_on_time"] += 5
    log.file(
        code,
        "public_service_report",
        "2025-07",
        later(regular["updated_at"], rng, 4, 30),
        payload,
        suffix="-2",
    )
