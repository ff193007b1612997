"""The units' quarterly capacity reports in the demo (form ``capacity_report``).

Phú Thọ asked every commune and agency for its 2025-Q3 figures (staff, steering committee,
information security, devices received) ahead of the Steering Committee's report of 23
September 2025, so the 2025-Q3 reports are filed from 8 to 20 September, before the quarter
ends and well before they are due (10 October). On the demo nights (as of 19-21 September)
2025-Q3 is therefore not yet a covered quarter of ``reporting_completeness``, and no report
can be late yet; ``capacity_quarterly`` shows them all the same.

Realistic gaps: some units have no digital-transformation specialist or no steering committee
of their own, many have open vulnerabilities, some have not filed yet. The mess: corrections,
an invalid newer version, first versions that break each of the form's x-rules, a report on a
quarter the unit was not active in, on a quarter that has not begun and with a malformed period.
"""

from __future__ import annotations

import copy
import random
from datetime import date

from demo_portal.submission_log import (
    Payload,
    RolePicker,
    SubmissionLog,
    day_between,
    later,
    local_time,
    seeded_rng,
)

QUARTER = "2025-Q3"
FIRST_FILING_DAY = date(2025, 9, 8)
LAST_FILING_DAY = date(2025, 9, 20)
NOT_FILED_RATE = 0.08
NO_SPECIALIST_RATE = 0.12
NO_COMMITTEE_RATE = 0.1


def capacity_payload(rng: random.Random, is_agency: bool) -> Payload:
    """One unit's plausible figures at the end of the quarter (every x-rule holds)."""
    officials = rng.randint(30, 85) if is_agency else rng.randint(18, 45)
    if not is_agency and rng.random() < NO_SPECIALIST_RATE:
        specialists = 0
    else:
        specialists = rng.randint(1, 3 if is_agency else 2)
    systems = rng.randint(2, 8) if is_agency else rng.choice((0, 1, 1, 2, 2, 3))
    approved = rng.randint(0, systems)
    assessments = rng.randint(0, systems)
    found = rng.choice((0, 0, 1, 2, 3, 5)) if systems else 0
    return {
        "officials_total": officials,
        "dx_specialists": specialists,
        "officials_trained_dx": round(officials * rng.uniform(0.35, 0.95)),
        "steering_committee": rng.random() >= NO_COMMITTEE_RATE,
        "information_systems": systems,
        "systems_security_approved": approved,
        "security_assessments": assessments,
        "vulnerabilities_found": found,
        # still open at quarter end, some found in earlier quarters
        "vulnerabilities_open": rng.randint(0, found + 1) if systems else 0,
        "devices_received": rng.choice((0, 0, 0, 2, 3, 5, 8, 12)),
    }


def file_capacity_reports(
    log: SubmissionLog, seed: int, agencies: list[str], communes: list[str]
) -> list[str]:
    """File the 2025-Q3 report of every unit but a few; returns the units that filed."""
    filed = []
    for code in sorted(agencies) + sorted(communes):
        rng = seeded_rng(seed, "capacity", code)
        if rng.random() < NOT_FILED_RATE:
            continue
        day = day_between(rng, FIRST_FILING_DAY, LAST_FILING_DAY)
        at = local_time(day, rng.randint(7 * 3600 + 1800, 17 * 3600))
        log.file(code, "capacity_report", QUARTER, at, capacity_payload(rng, code in agencies))
        filed.append(code)
    return filed


def add_capacity_mess(log: SubmissionLog, seed: int, filed: list[str]) -> None:
    """Corrections and invalid versions, each x-rule broken at least once.

    None of them leaves a unit without its counted 2025-Q3 report.
    """
    rng = seeded_rng(seed, "capacity-mess")
    units = RolePicker(rng, filed)

    def first_breaks_then_fixed(code: str, **broken: int) -> None:
        submission_id = log.regular(code, "capacity_report", QUARTER)
        first = log.first(submission_id)
        clean = copy.deepcopy(first["payload"])
        first["payload"].update(broken)
        log.republish(submission_id, later(first["updated_at"], rng, 2, 30), clean)

    # x-rules broken by version 1, fixed by version 2 (version 2 counts)
    code = units.pick()
    total = log.latest(log.regular(code, "capacity_report", QUARTER))["payload"]["officials_total"]
    first_breaks_then_fixed(code, dx_specialists=total + 2)
    code = units.pick()
    total = log.latest(log.regular(code, "capacity_report", QUARTER))["payload"]["officials_total"]
    first_breaks_then_fixed(code, officials_trained_dx=total * 10)
    code = units.pick(lambda c: _payload(log, c)["information_systems"] == 0)
    first_breaks_then_fixed(code, security_assessments=1)
    # an invalid newer version: more systems approved than operated (version 1 still counts)
    code = units.pick(lambda c: _payload(log, c)["information_systems"] >= 1)
    submission_id = log.regular(code, "capacity_report", QUARTER)
    broken = copy.deepcopy(log.latest(submission_id)["payload"])
    broken["systems_security_approved"] = broken["information_systems"] + 1
    log.republish(submission_id, later(log.latest(submission_id)["updated_at"], rng, 24, 72), broken)
    # valid corrections: devices delivered late in the quarter, a specialist appointed
    for code in units.take(3):
        submission_id = log.regular(code, "capacity_report", QUARTER)
        corrected = copy.deepcopy(log.latest(submission_id)["payload"])
        corrected["devices_received"] += rng.randint(1, 4)
        corrected["dx_specialists"] = max(1, corrected["dx_specialists"])
        log.republish(submission_id, later(log.latest(submission_id)["updated_at"], rng, 20, 60), corrected)
    # envelope trouble: a quarter before the unit existed, one not begun, a malformed period
    for period, code in (("2025-Q2", units.pick()), ("2025-Q4", units.pick()), ("2025-3", units.pick())):
        regular = log.latest(log.regular(code, "capacity_report", QUARTER))
        log.file(code, "capacity_report", period, later(regular["updated_at"], rng, 1, 20),
                 copy.deepcopy(regular["payload"]))


def _payload(log: SubmissionLog, code: str) -> Payload:
    return log.latest(log.regular(code, "capacity_report", QUARTER))["payload"]
