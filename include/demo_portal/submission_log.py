"""The submission versions of the demo portal being assembled, and the demo's calendar.

``SubmissionLog`` files submissions (version 1) and republishes them (corrections,
withdrawals) with the envelope the API serves; it refuses versions out of order or after the
portal's data end. ``RolePicker`` deals the parts of the demo's mess to distinct units.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

Record = dict[str, Any]
Payload = dict[str, Any]
LOCAL_TZ = timezone(timedelta(hours=7))  # Asia/Ho_Chi_Minh, no daylight saving
# The day the province's published figures describe, and the last moment the portal has data.
FIGURES_AS_OF = date(2025, 9, 21)
DATA_END = datetime(2025, 9, 21, 23, 0, 0, tzinfo=LOCAL_TZ)
FORM_PREFIX = {
    "task_report": "TR",
    "connectivity_report": "CN",
    "digital_skills_report": "DS",
    "public_service_report": "PS",
    "capacity_report": "CP",
}


def plain_copy(value: Any) -> Any:
    """A deep copy of JSON-like data (dicts, lists, scalars); several times faster than
    ``copy.deepcopy``, which the log would otherwise spend most of the demo's build in."""
    if isinstance(value, dict):
        return {key: plain_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain_copy(item) for item in value]
    return value


def seeded_rng(seed: int, *labels: object) -> random.Random:
    """A generator of its own for one part of the data, so parts do not disturb each other."""
    return random.Random(":".join(str(part) for part in (seed, *labels)))


def day_between(rng: random.Random, first: date, last: date) -> date:
    """A day from ``first`` to ``last``, both included."""
    return first + timedelta(days=rng.randint(0, max(0, (last - first).days)))


def local_time(day: date, seconds: int) -> datetime:
    """Local time ``seconds`` after midnight of ``day``."""
    return datetime.combine(day, time(), LOCAL_TZ) + timedelta(seconds=seconds)


def stamp(moment: datetime) -> str:
    """RFC 3339 with the province's +07:00 offset, to the second."""
    return moment.astimezone(LOCAL_TZ).replace(microsecond=0).isoformat()


def parse_stamp(text: str) -> datetime:
    """The moment an RFC 3339 stamp of this module stands for."""
    return datetime.fromisoformat(text)


def listing_key(version: Record) -> tuple[datetime, str, int]:
    """The listing order: (updated_at, submission_id, version)."""
    return parse_stamp(version["updated_at"]), version["submission_id"], version["version"]


def later(moment: datetime | str, rng: random.Random, low_hours: int, high_hours: int) -> datetime:
    """A moment between ``low_hours`` and ``high_hours`` after ``moment``, never after DATA_END."""
    start = parse_stamp(moment) if isinstance(moment, str) else moment
    candidate = start + timedelta(seconds=rng.randint(low_hours * 3600, high_hours * 3600))
    return min(candidate, DATA_END)


class SubmissionLog:
    """The submission versions being assembled, grouped by submission_id."""

    def __init__(self) -> None:
        self._versions: dict[str, list[Record]] = {}
        self._primary: dict[tuple[str, str, str], str] = {}

    def file(
        self,
        unit_code: str,
        form: str,
        period: str,
        submitted_at: datetime,
        payload: Payload,
        suffix: str = "",
        form_version: int = 1,
    ) -> str:
        """Publish version 1 of a new submission; returns its submission_id.

        Without ``suffix`` it is the unit's regular report for the form and period; with one it
        is an extra submission for the same form and period.
        """
        submission_id = f"{FORM_PREFIX[form]}-{unit_code}-{period}{suffix}"
        if submission_id in self._versions:
            raise ValueError(f"submission {submission_id} is filed twice")
        if submitted_at > DATA_END:
            raise ValueError(f"{submission_id} would be published after the portal's data end")
        filed = stamp(submitted_at)
        self._versions[submission_id] = [
            {
                "submission_id": submission_id,
                "unit_code": unit_code,
                "form": form,
                "form_version": form_version,
                "period": period,
                "version": 1,
                "status": "submitted",
                "submitted_at": filed,
                "updated_at": filed,
                "payload": plain_copy(payload),
            }
        ]
        if not suffix:
            self._primary[(unit_code, form, period)] = submission_id
        return submission_id

    def regular(self, unit_code: str, form: str, period: str) -> str:
        """The submission_id of the unit's regular report for a form and period."""
        return self._primary[(unit_code, form, period)]

    def latest(self, submission_id: str) -> Record:
        """The newest version of a submission."""
        return self._versions[submission_id][-1]

    def first(self, submission_id: str) -> Record:
        """Version 1 of a submission (mutable: the mess rewrites some first versions)."""
        return self._versions[submission_id][0]

    def republish(
        self,
        submission_id: str,
        updated_at: datetime,
        payload: Payload | None = None,
        status: str = "submitted",
    ) -> Record:
        """Publish the next version: a correction (new payload) or a withdrawal."""
        last = self.latest(submission_id)
        if not parse_stamp(last["updated_at"]) < updated_at <= DATA_END:
            raise ValueError(f"{submission_id}: version time {updated_at} out of order")
        record = plain_copy(last)
        record.update(version=last["version"] + 1, status=status, updated_at=stamp(updated_at))
        if payload is not None:
            record["payload"] = plain_copy(payload)
        self._versions[submission_id].append(record)
        return record

    def records(self) -> list[Record]:
        """Every version, in listing order."""
        versions = [v for history in self._versions.values() for v in history]
        # Every stamp is stamp()'s RFC 3339 at +07:00 to the second: text order is time order.
        return sorted(versions, key=lambda v: (v["updated_at"], v["submission_id"], v["version"]))


class RolePicker:
    """Picks distinct units for the mess, in a seeded order, each meeting a condition."""

    def __init__(self, rng: random.Random, units: list[str]) -> None:
        self._order = list(units)
        rng.shuffle(self._order)
        self._used: set[str] = set()

    def pick(self, condition: Callable[[str], bool] = lambda _: True) -> str:
        """The next unused unit meeting ``condition``."""
        for code in self._order:
            if code not in self._used and condition(code):
                self._used.add(code)
                return code
        raise ValueError("no unit left for a role of the demo mess")

    def take(self, count: int) -> list[str]:
        """The next ``count`` unused units."""
        return [self.pick() for _ in range(count)]
