"""Pure parts of the pull: connection parsing, unit-code safety, batching, as-of resolution."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from commune_dx.nightly import resolve_as_of_date
from commune_dx.portal_client import ConnectionConfigError, PipelineError, PortalConfig
from commune_dx.pulling import make_batches, run_key, safe_unit_code


@pytest.mark.parametrize(
    "host,password,message",
    [
        (None, "t", "has no host"),
        ("ftp://portal", "t", r"is not an http\(s\) URL"),
        ("http://", "t", r"is not an http\(s\) URL"),
        ("http://portal:99999", "t", "invalid port"),
        ("http://portal", None, "has no password"),
    ],
)
def test_malformed_connection_is_named(host, password, message):
    with pytest.raises(ConnectionConfigError, match=message):
        PortalConfig.from_connection_fields("commune_portal", host, password)


def test_connection_host_forms():
    assert PortalConfig.from_connection_fields("c", "http://h:8765/", "t").base_url == "http://h:8765"
    assert PortalConfig.from_connection_fields("c", "h", "t", port=8765).base_url == "http://h:8765"


@pytest.mark.parametrize("code", ["../etc/passwd", "25/01", "", ".hidden", "a" * 65, "25 01", None])
def test_unsafe_unit_codes_never_become_paths(code):
    with pytest.raises(PipelineError, match="not a valid unit code"):
        safe_unit_code(code)


def test_safe_unit_codes_pass():
    assert safe_unit_code("00004") == "00004"
    assert safe_unit_code("A25-SKHCN") == "A25-SKHCN"


def test_batches_cover_every_unit_once_with_watermarks():
    codes = [f"{i:05d}" for i in range(3321)]
    batches = make_batches(codes, {"00007": ("2025-09-01T00:00:00+00:00", "S9")}, 150)
    assert len(batches) == 23  # well under Airflow's max_map_length of 1,024
    assert max(len(b["units"]) for b in batches) <= 150
    flat = [u["unit_code"] for b in batches for u in b["units"]]
    assert flat == codes
    marked = [u for b in batches for u in b["units"] if u["watermark"]]
    assert marked == [{"unit_code": "00007", "watermark": ["2025-09-01T00:00:00+00:00", "S9"]}]


def test_no_units_no_batches():
    assert make_batches([], {}, 150) == []


def test_run_key_is_file_safe():
    assert run_key("2025-09-21", "manual__2025-09-22T01:00:00+07:00") == (
        "2025-09-21__manual__2025-09-22T01_00_00_07_00"
    )


def test_as_of_defaults_to_the_local_day_before_the_logical_date():
    # 18:30 UTC on 21 Sep is 01:30 on 22 Sep in Hà Nội: the last complete local day is the 21st.
    assert resolve_as_of_date(None, datetime(2025, 9, 21, 18, 30, tzinfo=UTC)) == "2025-09-21"
    assert resolve_as_of_date("2025-09-01", None) == "2025-09-01"
    with pytest.raises(PipelineError, match="not a date"):
        resolve_as_of_date("21/09/2025", None)
