"""Fault injection for the demo portal's submissions listing: the unstable links of mountain
communes, on demand and reproducible (the same seed and request sequence give the same faults),
and hostile units: a unit whose listing misbehaves in one chosen way (``HOSTILE_MODES``).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

# What a hostile unit's listing does (``hostile_units``: unit code -> mode).
HOSTILE_MODES = {
    "repeat_token": "every page carries the same next_page_token: pagination never ends",
    "stuck_cursor": "a new next_page_token each page, but the same items: the cursor never advances",
    "drip": "the page's body arrives one byte at a time (drip_ms apart)",
    "huge_error": "403 with an error body of 8 MB",
    "deep_json": "a page whose only item is an array nested 100,000 deep",
    "item_not_object": "a page with a list item that is a number, not a submission object",
    "bad_unicode": "a new version whose submission_id holds a lone surrogate (invalid Unicode)",
    "payload_not_object": "a new version whose payload is an array",
    "float_form_version": "a new version whose form_version is 1.0",
    "bad_submitted_at": "a new version whose submitted_at has a space for the 'T'",
    "bad_updated_at": "a new version whose updated_at has no offset",
    "bad_retry_after": "every other request 429 with a Retry-After that is no finite number",
    "future_version": "a new version dated 2099, later than the portal's clock",
}


# What /api/v1/units answers (``units_listing``).
UNITS_LISTINGS = {
    "as_is": "every unit",
    "empty": "no unit at all",
    "shrunk": "the first half of the units only",
    "invalid_codes": "every unit, plus entries whose code is not a valid unit code",
}


class Fault(Enum):
    """What goes wrong with one request."""

    DROP = "drop"  # close the connection without a response
    UNAVAILABLE = "503"
    RATE_LIMITED = "429"
    UNIT_DOWN = "unit_down"  # 503: this unit's data source is down


@dataclass(frozen=True)
class FaultSettings:
    """Rates (0–1) of each fault, added latency and units that are always down."""

    fail_503: float = 0.0
    fail_429: float = 0.0
    fail_drop: float = 0.0
    latency_ms: int = 0
    down_units: frozenset[str] = field(default_factory=frozenset)
    retry_after_s: int = 1
    hostile_units: dict[str, str] = field(default_factory=dict)
    drip_ms: int = 20
    units_listing: str = "as_is"

    @classmethod
    def build(cls, base: FaultSettings | None = None, **changes: Any) -> FaultSettings:
        """Settings from ``base`` (default: no faults) with ``changes``; ValueError if unusable."""
        if "down_units" in changes:
            changes["down_units"] = frozenset(changes["down_units"] or ())
        if "hostile_units" in changes:
            changes["hostile_units"] = dict(changes["hostile_units"] or {})
        settings = replace(base or cls(), **changes)
        problems = settings.problems()
        if problems:
            raise ValueError("; ".join(problems))
        return settings

    def problems(self) -> list[str]:
        """What is wrong with these settings (empty when they are usable)."""
        found = []
        for name in ("fail_503", "fail_429", "fail_drop"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                found.append(f"{name} must be between 0 and 1, not {rate}")
        if self.fail_503 + self.fail_429 + self.fail_drop > 1.0:
            found.append("fail_503 + fail_429 + fail_drop must not exceed 1")
        if not 0 <= self.latency_ms <= 60_000:
            found.append(f"latency_ms must be between 0 and 60000, not {self.latency_ms}")
        if not 0 <= self.retry_after_s <= 3_600:
            found.append(f"retry_after_s must be between 0 and 3600, not {self.retry_after_s}")
        unknown = sorted(set(self.hostile_units.values()) - set(HOSTILE_MODES))
        if unknown:
            found.append(f"unknown hostile mode(s) {', '.join(unknown)}; known: {', '.join(HOSTILE_MODES)}")
        if self.units_listing not in UNITS_LISTINGS:
            found.append(
                f"units_listing must be one of {', '.join(UNITS_LISTINGS)}, not {self.units_listing!r}"
            )
        if not 0 <= self.drip_ms <= 10_000:
            found.append(f"drip_ms must be between 0 and 10000, not {self.drip_ms}")
        return found

    def as_json(self) -> dict[str, Any]:
        """The settings as the control endpoint reports them."""
        return {
            "fail_503": self.fail_503,
            "fail_429": self.fail_429,
            "fail_drop": self.fail_drop,
            "latency_ms": self.latency_ms,
            "down_units": sorted(self.down_units),
            "retry_after_s": self.retry_after_s,
            "hostile_units": dict(sorted(self.hostile_units.items())),
            "drip_ms": self.drip_ms,
            "units_listing": self.units_listing,
        }


class FaultInjector:
    """Decides, request by request, which fault (if any) to inject. Thread-safe."""

    def __init__(self, settings: FaultSettings | None = None, seed: int = 1) -> None:
        self._lock = threading.Lock()
        self._settings = settings or FaultSettings()
        self._random = random.Random(seed)
        self._counts: dict[str | None, int] = {}

    @property
    def settings(self) -> FaultSettings:
        """The settings in force."""
        with self._lock:
            return self._settings

    def update(self, seed: int | None = None, **changes: Any) -> FaultSettings:
        """Change some settings (and optionally restart the seeded sequence); returns the new ones.

        Raises ValueError when the result would be unusable; nothing changes then.
        """
        with self._lock:
            self._settings = FaultSettings.build(self._settings, **changes)
            if seed is not None:
                self._random = random.Random(seed)
            return self._settings

    def count(self, unit_code: str | None) -> int:
        """How many listing requests about ``unit_code`` came before this one."""
        with self._lock:
            seen = self._counts.get(unit_code, 0)
            self._counts[unit_code] = seen + 1
            return seen

    def decide(self, unit_code: str | None) -> Fault | None:
        """The fault for one submissions request about ``unit_code`` (None: answer normally)."""
        with self._lock:
            settings = self._settings
            if unit_code is not None and unit_code in settings.down_units:
                return Fault.UNIT_DOWN
            if not (settings.fail_drop or settings.fail_503 or settings.fail_429):
                return None
            draw = self._random.random()
        if draw < settings.fail_drop:
            return Fault.DROP
        if draw < settings.fail_drop + settings.fail_503:
            return Fault.UNAVAILABLE
        if draw < settings.fail_drop + settings.fail_503 + settings.fail_429:
            return Fault.RATE_LIMITED
        return None
