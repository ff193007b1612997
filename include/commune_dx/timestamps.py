"""The one RFC 3339 check for the envelope's times (``submitted_at``, ``updated_at``).

Validation, the load (in SQL) and the watermarks all use it, so a time is either valid
everywhere or quarantined with its reason: never accepted by one and stored as NULL by another.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

# RFC 3339 section 5.6 date-time: 'T' between date and time, seconds, an offset. The same text
# is the load's SQL regular expression (DuckDB's RE2 reads it alike).
RFC3339_PATTERN = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
_RFC3339 = re.compile(RFC3339_PATTERN, re.ASCII)


def parse_rfc3339(value: Any) -> datetime | None:
    """The aware datetime ``value`` denotes if it is an RFC 3339 date-time with an offset and a
    real calendar time, else None."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        return None
    try:
        return datetime.fromisoformat(value.upper())
    except ValueError:  # month 13, 25:00, day 31 of a 30-day month, offset over 23:59
        return None
