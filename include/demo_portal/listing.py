"""The submissions listing: filters, RFC 3339 times, keyset pagination and page tokens.

Items are ordered by (updated_at, submission_id, version). A page token carries the request's
filters, the clock bound of the first page (so later pages show the same snapshot even when
the clock moves on) and the key of the last item served; it never expires.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

FORMS = ("task_report", "connectivity_report", "digital_skills_report", "public_service_report",
         "capacity_report")
LISTING_PARAMETERS = ("unit", "form", "updated_since", "page_token", "limit")
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
TOKEN_VERSION = 1

_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)

ListingKey = tuple[int, str, int]  # (updated_at in µs since the epoch, submission_id, version)


class BadListingRequest(ValueError):
    """A listing parameter the portal cannot honour (answered with 400)."""


def parse_instant(text: str) -> int:
    """An RFC 3339 date-time as microseconds since 1970-01-01T00:00:00Z.

    Integer arithmetic, so any year 0001–9999 and any offset work. Raises ValueError.
    """
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 date-time: {text!r}")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction = int((match.group(7) or ".0")[1:7].ljust(6, "0"))
    leap = second == 60  # RFC 3339 allows a leap second; count it as the end of :59
    if leap:
        second, fraction = 59, 999_999
    naive = datetime(year, month, day, hour, minute, second, fraction)
    offset = match.group(8)
    offset_minutes = 0
    if offset not in ("Z", "z"):
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        if hours > 23 or minutes > 59:
            raise ValueError(f"offset out of range in {text!r}")
        offset_minutes = (hours * 60 + minutes) * (1 if offset[0] == "+" else -1)
    return (naive - _EPOCH) // _MICROSECOND - offset_minutes * 60_000_000


@dataclass(frozen=True)
class ListingQuery:
    """One page request, after parameters and page token are resolved."""

    unit: str | None
    form: str | None
    since: int | None  # exclusive lower bound on updated_at (µs)
    upto: int | None  # inclusive upper bound on updated_at: the portal clock's snapshot
    after: ListingKey | None  # the last item of the previous page
    limit: int


@dataclass(frozen=True)
class Page:
    """A page of serialised items and the key to continue after (None on the last page)."""

    items: list[bytes]
    continue_after: ListingKey | None


def encode_page_token(query: ListingQuery, after: ListingKey) -> str:
    """An opaque token for the page that follows ``after`` under ``query``'s filters."""
    body = {
        "v": TOKEN_VERSION,
        "unit": query.unit,
        "form": query.form,
        "since": query.since,
        "upto": query.upto,
        "after": list(after),
    }
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _optional(body: dict[str, Any], name: str, kind: type) -> Any:
    value = body[name]
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise ValueError(name)
    return value


def decode_page_token(token: str) -> dict[str, Any]:
    """The filters, snapshot and position a token carries. Raises BadListingRequest."""
    try:
        padded = token + "=" * (-len(token) % 4)
        body = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8"))
        if not isinstance(body, dict) or body.get("v") != TOKEN_VERSION:
            raise ValueError("version")
        after = body["after"]
        if not (
            isinstance(after, list)
            and len(after) == 3
            and isinstance(after[0], int)
            and isinstance(after[1], str)
            and isinstance(after[2], int)
        ):
            raise ValueError("after")
        return {
            "unit": _optional(body, "unit", str),
            "form": _optional(body, "form", str),
            "since": _optional(body, "since", int),
            "upto": _optional(body, "upto", int),
            "after": (after[0], after[1], after[2]),
        }
    except (ValueError, KeyError, UnicodeError, binascii.Error) as error:
        raise BadListingRequest(
            "page_token is not a token this portal issued; start again without it"
        ) from error


def _single(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise BadListingRequest(f"{name} is given {len(values)} times; give it at most once")
    return values[0]


def _parse_limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not re.fullmatch(r"[0-9]{1,6}", text) or not 1 <= int(text) <= MAX_LIMIT:
        raise BadListingRequest(f"limit must be an integer from 1 to {MAX_LIMIT}, not {text!r}")
    return int(text)


def _parse_since(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return parse_instant(text)
    except ValueError as error:
        raise BadListingRequest(
            f"updated_since must be an RFC 3339 date-time such as 2025-09-01T00:00:00+07:00, not {text!r}"
        ) from error


def _earliest(first: int | None, second: int | None) -> int | None:
    """The tighter of two optional upper bounds (None: unbounded)."""
    if first is None or second is None:
        return second if first is None else first
    return min(first, second)


def parse_listing_query(
    params: dict[str, list[str]], known_units: set[str], clock: int | None
) -> ListingQuery:
    """Resolve the query parameters (and page token) of a listing request.

    With a page token, a filter may be left out (the token's applies) or repeated unchanged.
    Raises BadListingRequest with a message that says what to fix.
    """
    unknown = sorted(set(params) - set(LISTING_PARAMETERS))
    if unknown:
        # A misspelt filter (say, updatedSince) would otherwise silently list everything.
        raise BadListingRequest(
            f"unknown parameter(s) {', '.join(map(repr, unknown))}; "
            f"the listing takes {', '.join(LISTING_PARAMETERS)}"
        )
    unit, form = _single(params, "unit"), _single(params, "form")
    since = _parse_since(_single(params, "updated_since"))
    limit = _parse_limit(_single(params, "limit"))
    token = _single(params, "page_token")
    upto, after = clock, None
    if token is not None:
        carried = decode_page_token(token)
        for name, given in (("unit", unit), ("form", form), ("updated_since", since)):
            kept = carried["since" if name == "updated_since" else name]
            if given is not None and given != kept:
                raise BadListingRequest(
                    f"{name} differs from the one the page_token was issued for; "
                    "keep the filters of the first page or start again without page_token"
                )
        unit, form, since = carried["unit"], carried["form"], carried["since"]
        after = carried["after"]
        upto = _earliest(clock, carried["upto"])
    if unit is not None and unit not in known_units:
        raise BadListingRequest(f"unknown unit {unit!r}; the units are listed at /api/v1/units")
    if form is not None and form not in FORMS:
        raise BadListingRequest(f"unknown form {form!r}; one of {', '.join(FORMS)}")
    return ListingQuery(unit=unit, form=form, since=since, upto=upto, after=after, limit=limit)


@dataclass
class _Slice:
    """The items matching one (unit, form) filter, in listing order."""

    keys: list[ListingKey]
    updated: list[int]
    bodies: list[bytes]


class SubmissionIndex:
    """Every submission version, serialised once and indexed by every filter combination."""

    def __init__(self, versions: Iterable[dict[str, Any]]) -> None:
        rows = sorted(
            (
                (parse_instant(v["updated_at"]), v["submission_id"], v["version"]),
                v,
            )
            for v in versions
        )
        self._slices: dict[tuple[str | None, str | None], _Slice] = {}
        for key, version in rows:
            body = json.dumps(version, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            unit, form = version["unit_code"], version["form"]
            for selector in ((None, None), (unit, None), (None, form), (unit, form)):
                piece = self._slices.setdefault(selector, _Slice([], [], []))
                piece.keys.append(key)
                piece.updated.append(key[0])
                piece.bodies.append(body)

    def page(self, query: ListingQuery) -> Page:
        """The items of one page and where the next one starts."""
        piece = self._slices.get((query.unit, query.form))
        if piece is None:
            return Page([], None)
        start = 0 if query.since is None else bisect_right(piece.updated, query.since)
        if query.after is not None:
            start = max(start, bisect_right(piece.keys, query.after))
        end = len(piece.keys) if query.upto is None else bisect_right(piece.updated, query.upto)
        stop = min(start + query.limit, end)
        if start >= stop:
            return Page([], None)
        return Page(piece.bodies[start:stop], piece.keys[stop - 1] if stop < end else None)

    def __len__(self) -> int:
        piece = self._slices.get((None, None))
        return len(piece.keys) if piece else 0
