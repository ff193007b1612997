"""The demo data reproduce the province's published figures under MARTS.md's counting rules.

The oracle below is written from MARTS.md alone ("Which submissions count", task entries,
dead-zone villages) and shares no code with the generator: if the generator or the rules
drift apart, these tests say which figure moved.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from demo_portal.demo_data import DemoDataset, build_demo_dataset

FORMS_DIR = Path(__file__).resolve().parents[2] / "include" / "commune_dx" / "contract" / "forms"
LOCAL = timezone(timedelta(hours=7))
AS_OF = date(2025, 9, 21)
DATA_END = datetime(2025, 9, 21, 23, 0, tzinfo=LOCAL)
MONTHLY = ("connectivity_report", "digital_skills_report", "public_service_report")
Record = dict[str, Any]

# Each x-rule of the form schemas, as a predicate over a schema-valid payload.
X_RULES: dict[str, Callable[[Record], bool]] = {
    "villages_no_signal + villages_weak_signal <= villages_total": lambda p: (
        p["villages_no_signal"] + p["villages_weak_signal"] <= p["villages_total"]
    ),
    "households_fiber <= households_total": lambda p: p["households_fiber"] <= p["households_total"],
    "office_computers_outdated <= office_computers_total": lambda p: (
        p["office_computers_outdated"] <= p["office_computers_total"]
    ),
    "people_completed_basic <= participants_officials + participants_citizens + "
    "participants_students": lambda p: (
        p["people_completed_basic"]
        <= p["participants_officials"] + p["participants_citizens"] + p["participants_students"]
    ),
    "sessions_held = 0 implies all participants = 0": lambda p: (
        p["sessions_held"] != 0
        or p["participants_officials"] == p["participants_citizens"] == p["participants_students"] == 0
    ),
    "dossiers_full_online <= dossiers_online <= dossiers_received": lambda p: (
        p["dossiers_full_online"] <= p["dossiers_online"] <= p["dossiers_received"]
    ),
    "dossiers_processed_on_time <= dossiers_processed": lambda p: (
        p["dossiers_processed_on_time"] <= p["dossiers_processed"]
    ),
    "dx_specialists <= officials_total": lambda p: p["dx_specialists"] <= p["officials_total"],
    "officials_trained_dx <= officials_total": lambda p: p["officials_trained_dx"] <= p["officials_total"],
    "systems_security_approved <= information_systems": lambda p: (
        p["systems_security_approved"] <= p["information_systems"]
    ),
    "information_systems = 0 implies security_assessments = 0": lambda p: (
        p["information_systems"] != 0 or p["security_assessments"] == 0
    ),
}


@dataclass(frozen=True)
class Rules:
    """Which counting rules the oracle applies (all of them unless a test switches one off)."""

    validate: bool = True
    honour_withdrawals: bool = True
    latest_counted_version_wins: bool = True


def _instant(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def _local_day(stamp: str) -> date:
    return _instant(stamp).astimezone(LOCAL).date()


def _period_days(form: str, period: str) -> tuple[date, date] | None:
    """First and last day a period covers, or None when it is malformed."""
    try:
        if form == "task_report":
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", period):
                return None
            day = date.fromisoformat(period)
            return day, day
        if form == "capacity_report":
            if not re.fullmatch(r"[0-9]{4}-Q[1-4]", period):
                return None
            first = date(int(period[:4]), 3 * int(period[-1]) - 2, 1)
            last_month = date(first.year, first.month + 2, 1)
            after = date(last_month.year + last_month.month // 12, last_month.month % 12 + 1, 1)
            return first, after - timedelta(days=1)
        if not re.fullmatch(r"\d{4}-\d{2}", period):
            return None
        first = date.fromisoformat(f"{period}-01")
    except ValueError:
        return None
    after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, after - timedelta(days=1)


class Oracle:
    """MARTS.md's "Which submissions count", applied to a demo dataset."""

    def __init__(self, dataset: DemoDataset, rules: Rules = Rules()) -> None:
        self.dataset = dataset
        self.rules = rules
        self.units = {u["unit_code"]: u for u in dataset.units}
        self.tasks = {t["task_code"]: t for t in dataset.tasks}
        self.validators = {}
        for path in sorted(FORMS_DIR.glob("*.schema.json")):
            schema = json.loads(path.read_text(encoding="utf-8"))
            form = path.name.removesuffix(".schema.json")
            self.validators[form] = (
                Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER),
                schema.get("x-rules", []),
            )

    def reasons(self, version: Record) -> list[str]:
        """Every failed check of one version (empty: valid). Withdrawn versions are valid."""
        if version["status"] == "withdrawn":
            return []
        found = []
        if version["form_version"] != 1:
            found.append("unknown form_version")
        days = _period_days(version["form"], version["period"])
        unit = self.units.get(version["unit_code"])
        if days is None:
            found.append("malformed period")
        else:
            if days[0] > _local_day(version["submitted_at"]):
                found.append("period after submitted_at")
            if unit is None:
                found.append("unknown unit")
            elif not self._active(unit, days):
                found.append("unit not active")
        validator, rules = self.validators[version["form"]]
        payload = version["payload"]
        schema_errors = list(validator.iter_errors(payload))
        if schema_errors:
            found.append("schema")
        else:
            found += [f"x-rule {rule}" for rule in rules if not X_RULES[rule](payload)]
            if version["form"] == "task_report" and days is not None:
                found += self._task_reasons(version["unit_code"], payload["tasks"], days[0])
        return found

    @staticmethod
    def _active(unit: Record, days: tuple[date, date]) -> bool:
        first = date.fromisoformat(unit["active_from"])
        last = date.fromisoformat(unit["active_to"]) if unit["active_to"] else date.max
        return first <= days[1] and days[0] <= last

    def _task_reasons(self, unit_code: str, entries: list[Record], period: date) -> list[str]:
        found = []
        seen: set[str] = set()
        for entry in entries:
            code = entry["task_code"]
            task = self.tasks.get(code)
            if task is None:
                found.append("unknown task")
            elif task["assigned_unit_code"] != unit_code:
                found.append("task of another unit")
            if code in seen:
                found.append("task listed twice")
            seen.add(code)
            completed_on = entry.get("completed_on")
            if entry["status"] == "completed" and not completed_on:
                found.append("completed without completed_on")
            if entry["status"] != "completed" and completed_on:
                found.append("completed_on while not completed")
            if completed_on and date.fromisoformat(completed_on) > period:
                found.append("completed_on after period")
        return found

    def is_valid(self, version: Record) -> bool:
        return not self.rules.validate or not self.reasons(version)

    def histories(self) -> dict[str, list[Record]]:
        """Versions by submission_id, oldest first."""
        by_id: dict[str, list[Record]] = {}
        for version in self.dataset.submissions:
            by_id.setdefault(version["submission_id"], []).append(version)
        return {sid: sorted(vs, key=lambda v: v["version"]) for sid, vs in by_id.items()}

    def counted_version(self, versions: list[Record]) -> Record | None:
        """Rule 2: the highest valid version; None when there is none or it is withdrawn."""
        valid = [v for v in versions if self.is_valid(v)]
        if not valid:
            return None
        top = max(valid, key=lambda v: v["version"])
        if top["status"] == "withdrawn" and self.rules.honour_withdrawals:
            return None
        return top

    def counting_reports(self) -> dict[tuple[str, str, str], Record]:
        """Rule 3: one counted version per (unit, form, period)."""
        if self.rules.latest_counted_version_wins:

            def rank(v: Record) -> tuple[Any, ...]:
                return (_instant(v["updated_at"]), v["submission_id"])
        else:  # the tempting shortcut: the submission filed last

            def rank(v: Record) -> tuple[Any, ...]:
                return (_instant(v["submitted_at"]), v["submission_id"])

        chosen: dict[tuple[str, str, str], Record] = {}
        for versions in self.histories().values():
            counted = self.counted_version(versions)
            if counted is None:
                continue
            key = (counted["unit_code"], counted["form"], counted["period"])
            if key not in chosen or rank(counted) > rank(chosen[key]):
                chosen[key] = counted
        return chosen

    def task_entries(self, as_of: date) -> dict[str, Record | None]:
        """The entry of each task as of a day (None: never reported)."""
        reports = [
            r
            for (unit, form, period), r in self.counting_reports().items()
            if form == "task_report"
            and _period_days(form, period) is not None
            and date.fromisoformat(period) <= as_of
        ]
        entries: dict[str, Record | None] = {}
        for code, task in self.tasks.items():
            listing = [
                (r["period"], _instant(r["updated_at"]), e)
                for r in reports
                if r["unit_code"] == task["assigned_unit_code"]
                for e in r["payload"]["tasks"]
                if e["task_code"] == code
            ]
            entries[code] = max(listing, key=lambda x: x[:2])[2] if listing else None
        return entries

    def central_completed(self, as_of: date = AS_OF) -> tuple[int, int]:
        """(completed, not completed) central tasks assigned by ``as_of``."""
        entries = self.task_entries(as_of)
        central = [
            c
            for c, t in self.tasks.items()
            if t["source"] == "central" and date.fromisoformat(t["assigned_on"]) <= as_of
        ]
        done = sum(1 for c in central if entries[c] and entries[c]["status"] == "completed")
        return done, len(central) - done

    def dead_zone_villages(self, period: str = "2025-08") -> int:
        return sum(
            r["payload"]["villages_no_signal"] + r["payload"]["villages_weak_signal"]
            for (_, form, p), r in self.counting_reports().items()
            if form == "connectivity_report" and p == period
        )


@pytest.fixture(scope="module")
def dataset() -> DemoDataset:
    return build_demo_dataset()


@pytest.fixture(scope="module")
def oracle(dataset: DemoDataset) -> Oracle:
    return Oracle(dataset)


def test_every_x_rule_has_a_predicate(oracle: Oracle) -> None:
    for form, (_, rules) in oracle.validators.items():
        assert set(rules) <= set(X_RULES), form


def test_units_are_the_province_communes_and_agencies(dataset: DemoDataset) -> None:
    types = [u["unit_type"] for u in dataset.units]
    assert len(dataset.units) == 164
    assert types.count("agency") == 16
    assert types.count("xa") == 133 and types.count("phuong") == 15
    assert len({u["unit_code"] for u in dataset.units}) == 164
    assert all(u["province_code"] == "25" and u["active_from"] == "2025-07-01" for u in dataset.units)
    assert all(u["unit_name"] == unicodedata.normalize("NFC", u["unit_name"]) for u in dataset.units)


def test_task_catalogue(dataset: DemoDataset) -> None:
    central = [t for t in dataset.tasks if t["source"] == "central"]
    provincial = [t for t in dataset.tasks if t["source"] == "provincial" and t["phase"] is None]
    assert {t["phase"] for t in central} == {2}
    agencies = {u["unit_code"] for u in dataset.units if u["unit_type"] == "agency"}
    assert len(central) == 135
    assert 35 <= len(provincial) <= 45
    assert {t["assigned_unit_code"] for t in central} <= agencies
    assert {t["assigned_unit_code"] for t in provincial} - agencies, "some communes have tasks"
    assert all("2025-02-01" <= t["assigned_on"] <= "2025-07-31" for t in dataset.tasks)
    deadlines = [date.fromisoformat(t["deadline"]) for t in central]
    assert any(d < AS_OF for d in deadlines) and any(d > AS_OF for d in deadlines)


def test_published_figures(oracle: Oracle) -> None:
    assert oracle.central_completed() == (79, 56)
    assert oracle.dead_zone_villages("2025-08") == 24


@pytest.mark.parametrize(
    ("rules", "figure"),
    [
        (Rules(validate=False), "tasks"),
        (Rules(honour_withdrawals=False), "tasks"),
        (Rules(validate=False), "dead zones"),
        (Rules(honour_withdrawals=False), "dead zones"),
        (Rules(latest_counted_version_wins=False), "dead zones"),
    ],
)
def test_skipping_a_rule_moves_a_figure(dataset: DemoDataset, rules: Rules, figure: str) -> None:
    sloppy = Oracle(dataset, rules)
    if figure == "tasks":
        assert sloppy.central_completed() != (79, 56)
    else:
        assert sloppy.dead_zone_villages("2025-08") != 24


@pytest.mark.parametrize(("province", "seed"), [("25", 1), ("25", 2024), ("01", 57)])
def test_figures_hold_for_other_seeds_and_provinces(province: str, seed: int) -> None:
    other = Oracle(build_demo_dataset(province, seed))
    assert other.central_completed() == (79, 56)
    assert other.dead_zone_villages("2025-08") == 24


def test_deterministic_and_fast() -> None:
    started = time.perf_counter()
    first = build_demo_dataset()
    elapsed = time.perf_counter() - started
    second = build_demo_dataset()
    assert json.dumps(first.__dict__, ensure_ascii=False) == json.dumps(second.__dict__, ensure_ascii=False)
    assert elapsed < 1.0


def test_versions_are_well_formed(oracle: Oracle, dataset: DemoDataset) -> None:
    for sid, versions in oracle.histories().items():
        assert [v["version"] for v in versions] == list(range(1, len(versions) + 1)), sid
        assert len({v["submitted_at"] for v in versions}) == 1, sid
        updated = [_instant(v["updated_at"]) for v in versions]
        assert updated == sorted(updated) and len(set(updated)) == len(updated), sid
        assert versions[0]["updated_at"] == versions[0]["submitted_at"], sid
    stamps = [v["updated_at"] for v in dataset.submissions]
    assert all(s.endswith("+07:00") for s in stamps)
    assert max(_instant(s) for s in stamps) == DATA_END
    keys = [(_instant(v["updated_at"]), v["submission_id"], v["version"]) for v in dataset.submissions]
    assert keys == sorted(keys)


def test_submission_times_follow_the_calendar(oracle: Oracle) -> None:
    for versions in oracle.histories().values():
        first = versions[0]
        if oracle.reasons(first):
            continue
        filed = _local_day(first["submitted_at"])
        if first["form"] == "task_report":
            period = date.fromisoformat(first["period"])
            assert period <= filed <= period + timedelta(days=3), first["submission_id"]
        elif first["form"] == "capacity_report":  # asked for before the quarter's end (18 days)
            quarter_first, quarter_last = _period_days(first["form"], first["period"])
            assert quarter_first <= filed <= quarter_last + timedelta(days=10), first["submission_id"]
        else:
            month_after = _period_days(first["form"], first["period"])[1] + timedelta(days=1)
            assert month_after <= filed <= month_after + timedelta(days=15), first["submission_id"]


def test_task_reports_list_every_assigned_task(oracle: Oracle) -> None:
    for (unit, form, period), report in oracle.counting_reports().items():
        if form != "task_report":
            continue
        expected = {
            c
            for c, t in oracle.tasks.items()
            if t["assigned_unit_code"] == unit and t["assigned_on"] <= period
        }
        assert {e["task_code"] for e in report["payload"]["tasks"]} == expected


def test_the_mess_is_there(oracle: Oracle, dataset: DemoDataset) -> None:
    histories = oracle.histories()
    corrections = invalid_newer = withdrawn_duplicates = 0
    for versions in histories.values():
        valid = [not oracle.reasons(v) for v in versions]
        top = versions[-1]
        if len(versions) > 1 and all(valid) and top["status"] == "submitted":
            corrections += versions[0]["payload"] != top["payload"]
        if len(versions) > 1 and not valid[-1] and any(valid[:-1]):
            invalid_newer += 1
        if top["status"] == "withdrawn":
            others = [
                h
                for sid, h in histories.items()
                if sid != top["submission_id"]
                and (h[0]["unit_code"], h[0]["form"], h[0]["period"])
                == (top["unit_code"], top["form"], top["period"])
            ]
            withdrawn_duplicates += bool(others)
    assert corrections >= 2 and invalid_newer >= 2 and withdrawn_duplicates >= 2
    reasons = {r for v in dataset.submissions for r in oracle.reasons(v)}
    for expected in (
        "schema",
        "unknown form_version",
        "period after submitted_at",
        "malformed period",
        "unknown task",
        "task of another unit",
        "task listed twice",
        "completed without completed_on",
        "completed_on while not completed",
        "completed_on after period",
    ):
        assert expected in reasons
    assert any(r.startswith("x-rule") for r in reasons)


def test_late_and_missing_reports(oracle: Oracle, dataset: DemoDataset) -> None:
    reports = oracle.counting_reports()

    def due(form: str, period: str) -> datetime:
        """23:59:59 local on the 5th of the month after the period."""
        fifth = _period_days(form, period)[1] + timedelta(days=5)
        return datetime.combine(fifth, datetime.max.time().replace(microsecond=0), LOCAL)

    late = [
        r
        for (_, form, period), r in reports.items()
        if form in MONTHLY and _instant(r["submitted_at"]) > due(form, period)
    ]
    assert late
    communes = [u["unit_code"] for u in dataset.units if u["unit_type"] != "agency"]
    missing = [
        (c, f, p)
        for c in communes
        for f in MONTHLY
        for p in ("2025-07", "2025-08")
        if (c, f, p) not in reports
    ]
    assert len(missing) >= 5


def test_free_text_is_messy(dataset: DemoDataset) -> None:
    notes = [
        e["note"]
        for v in dataset.submissions
        if v["form"] == "task_report"
        for e in v["payload"].get("tasks", [])
        if isinstance(e, dict) and e.get("note")
    ]
    assert any(unicodedata.normalize("NFC", n) != n for n in notes)
    assert any("<script>alert(1)</script>" in n for n in notes)
    assert any("'; DROP TABLE x; --" in n for n in notes)


def test_phase_one_is_green_since_july_for_the_province_and_every_commune(oracle: Oracle) -> None:
    entries = oracle.task_entries(AS_OF)
    phase_one: dict[str, list[Record | None]] = {}
    for code, task in oracle.tasks.items():
        if task["phase"] == 1:
            phase_one.setdefault(task["assigned_unit_code"], []).append(entries[code])
    communes = {c for c, u in oracle.units.items() if u["unit_type"] != "agency"}
    agencies = set(oracle.units) - communes
    assert set(phase_one) == communes | agencies and len(communes) == 148
    green_since = {}
    for unit, unit_entries in phase_one.items():
        assert all(e is not None and e["status"] == "completed" for e in unit_entries), unit
        green_since[unit] = max(date.fromisoformat(e["completed_on"]) for e in unit_entries)
    province_since = max(green_since[a] for a in agencies)
    assert province_since.year == 2025 and province_since.month == 7
    assert all(green_since[c] <= province_since for c in communes)
    # phase 2 (the central tasks) is under way: some completed, some not
    phase_two = [entries[c] for c, t in oracle.tasks.items() if t["phase"] == 2]
    assert 0 < sum(bool(e) and e["status"] == "completed" for e in phase_two) < len(phase_two)


def test_capacity_reports_and_their_gaps(oracle: Oracle, dataset: DemoDataset) -> None:
    reports = {
        unit: r["payload"]
        for (unit, form, period), r in oracle.counting_reports().items()
        if form == "capacity_report" and period == "2025-Q3"
    }
    assert 0.85 * len(oracle.units) <= len(reports) < len(oracle.units), "most units filed, not all"
    assert any(p["dx_specialists"] == 0 for p in reports.values())
    assert any(not p["steering_committee"] for p in reports.values())
    assert any(p["vulnerabilities_open"] > 0 for p in reports.values())
    versions = [v for v in dataset.submissions if v["form"] == "capacity_report"]
    reasons = {r for v in versions for r in oracle.reasons(v)}
    capacity_rules = oracle.validators["capacity_report"][1]
    assert {f"x-rule {rule}" for rule in capacity_rules} <= reasons
    assert {"unit not active", "period after submitted_at", "malformed period"} <= reasons
    corrected = [
        h for h in oracle.histories().values()
        if h[0]["form"] == "capacity_report" and len(h) > 1 and not any(map(oracle.reasons, h))
    ]
    assert len(corrected) >= 2
