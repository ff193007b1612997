"""The one RFC 3339 check for the envelope's times (``commune_dx.timestamps``): what it accepts,
what it refuses, and that the load's SQL agrees with it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from commune_dx.timestamps import parse_rfc3339


def test_validation_and_load_share_one_rfc3339_check():
    import duckdb

    from commune_dx.loading import PARSED_LANDING
    from commune_dx.timestamps import RFC3339_PATTERN, parse_rfc3339

    assert RFC3339_PATTERN in PARSED_LANDING
    con = duckdb.connect()
    for text in ["2025-09-03T09:00:00+07:00", "2025-09-03t02:00:00z", "2025-09-03 09:00:00+07:00",
                 "2025-09-03T09:00:00", "2025-02-30T09:00:00Z", "2025-09-03T09:00:00.5-03:30"]:
        stored = con.execute(
            f"SELECT CASE WHEN regexp_matches(?, '{RFC3339_PATTERN}') "
            "THEN TRY_CAST(upper(?) AS TIMESTAMPTZ) END", [text, text]).fetchone()[0]
        assert (stored is None) == (parse_rfc3339(text) is None), text


@pytest.mark.parametrize(("text", "instant"), [
    ("2025-09-05T23:59:59+07:00", datetime(2025, 9, 5, 16, 59, 59, tzinfo=UTC)),
    ("2025-09-05T16:59:59Z", datetime(2025, 9, 5, 16, 59, 59, tzinfo=UTC)),
    ("2025-09-05t16:59:59z", datetime(2025, 9, 5, 16, 59, 59, tzinfo=UTC)),
    ("2025-09-05T13:29:59.250-03:30", datetime(2025, 9, 5, 16, 59, 59, 250000, tzinfo=UTC)),
])
def test_an_rfc3339_time_gives_its_instant(text, instant):
    parsed = parse_rfc3339(text)
    assert parsed is not None and parsed.tzinfo is not None
    assert parsed == instant


@pytest.mark.parametrize("value", [
    "2025-09-05T23:59:59",  # no offset: which day it is depends on the reader
    "2025-09-05 23:59:59+07:00",  # a space instead of T
    "2025-09-05T23:59+07:00",  # no seconds
    "2025-13-05T23:59:59Z", "2025-09-31T23:59:59Z", "2025-09-05T25:00:00Z",  # no such time
    "2025-09-05T23:59:59+24:00",  # an offset past 23:59
    "2025-09-05T23:59:59Z\n",  # a trailing line break
    "２０２５-09-05T23:59:59Z",  # digits other than ASCII's
    "", None, 1757116799, datetime(2025, 9, 5, tzinfo=UTC),  # not text
])
def test_anything_else_is_refused(value):
    assert parse_rfc3339(value) is None
