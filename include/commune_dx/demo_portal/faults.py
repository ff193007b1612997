"""Fault injection for the demo portal's submissions listing: the unstable links of mountain
communes, on demand and reproducible (the same seed and request sequence give the same faults).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any


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

    @classmethod
    def build(cls, base: FaultSettings | None = None, **changes: Any) -> FaultSettings:
        """Settings from ``base`` (default: no faults) with ``changes``; ValueError if unusable."""
        if "down_units" in changes:
            changes["down_units"] = frozenset(changes["down_units"] or ())
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
        }


class FaultInjector:
    """Decides, request by request, which fault (if any) to inject. Thread-safe."""

    def __init__(self, settings: FaultSettings | None = None, seed: int = 1) -> None:
        self._lock = threading.Lock()
        self._settings = settings or FaultSettings()
        self._random = random.Random(seed)

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
