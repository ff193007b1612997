"""The portal client against the real demo portal on loopback, with its fault injection."""

from __future__ import annotations

import json
import socket
import time
import traceback
from pathlib import Path

import pytest

from commune_dx.landing import TEMP_SUFFIX
from commune_dx.portal_client import (
    ConnectionConfigError,
    PortalAuthError,
    PortalBadRequest,
    PortalClient,
    PortalConfig,
    PortalProtocolError,
    PortalResponseTooLarge,
    PortalUnreachable,
    PullBudget,
    PullBudgetExceeded,
    RetryPolicy,
)
from commune_dx.pulling import pull_unit
from demo_portal.server import start_demo_portal

FAST = RetryPolicy(max_attempts=8, backoff_base=0.01, backoff_max=0.05)


@pytest.fixture()
def faulty():
    """A private portal whose faults each test sets (the session portal stays clean)."""
    with start_demo_portal(token="t") as running:
        yield running


def client_for(portal, token: str = "t", **kwargs) -> PortalClient:
    return PortalClient(PortalConfig(portal.url, token), retry=kwargs.pop("retry", FAST), **kwargs)


def all_versions(client: PortalClient, unit: str) -> list[str]:
    return [r for page in client.iter_submission_pages(unit, None, limit=2) for r in page.records]


def test_pages_through_a_unit(faulty):
    unit = "A25-SKHCN"
    expected = [s for s in faulty.dataset.submissions if s["unit_code"] == unit]
    with client_for(faulty) as client:
        records = all_versions(client, unit)
    assert len(records) == len(expected) > 2  # several pages of 2


def test_transient_faults_are_retried_until_everything_arrives(faulty):
    unit = "A25-SKHCN"
    with client_for(faulty) as client:
        clean = all_versions(client, unit)
    faulty.set_faults(fault_seed=7, fail_503=0.3, fail_drop=0.1, fail_429=0.1, retry_after_s=0)
    sleeps: list[float] = []
    with client_for(faulty, sleep=sleeps.append) as client:
        assert all_versions(client, unit) == clean
    assert sleeps, "no retry happened: the faults were not exercised"


def test_retry_after_is_honoured(faulty):
    faulty.set_faults(fault_seed=3, fail_429=0.5, retry_after_s=2)
    sleeps: list[float] = []
    with client_for(faulty, sleep=sleeps.append) as client:
        all_versions(client, "A25-SKHCN")
    assert 2.0 in sleeps


def test_wrong_token_is_not_retried(faulty):
    sleeps: list[float] = []
    with client_for(faulty, token="wrong", sleep=sleeps.append) as client:
        with pytest.raises(PortalAuthError, match=r"refused the token \(401"):
            client.list_units()
    assert sleeps == []


def test_bad_request_is_not_retried_and_says_why(faulty):
    sleeps: list[float] = []
    with client_for(faulty, sleep=sleeps.append) as client:
        with pytest.raises(PortalBadRequest, match="400"):
            list(client.iter_submission_pages("NOT-A-UNIT", None))
    assert sleeps == []


def test_unit_down_fails_after_its_retries(faulty):
    faulty.set_faults(down_units=["A25-SKHCN"])
    with client_for(faulty, retry=RetryPolicy(max_attempts=3, backoff_base=0.01)) as client:
        with pytest.raises(PortalUnreachable, match="failed 3 times, last: HTTP 503"):
            all_versions(client, "A25-SKHCN")


def test_refused_connection_names_the_cause():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again on exit: nothing listens there
    config = PortalConfig(f"http://127.0.0.1:{port}", "t")
    with PortalClient(config, retry=RetryPolicy(max_attempts=2, backoff_base=0.01)) as client:
        with pytest.raises(PortalUnreachable, match="connection refused"):
            client.health()


def test_oversized_page_is_refused_without_reading_it_all(faulty):
    with client_for(faulty, max_page_bytes=2_000) as client:
        with pytest.raises(PortalResponseTooLarge, match="COMMUNE_MAX_PAGE_BYTES"):
            list(client.iter_submission_pages("A25-SKHCN", None, limit=500))


def test_oversized_submission_is_refused(faulty):
    with client_for(faulty, max_submission_bytes=100) as client:
        with pytest.raises(PortalResponseTooLarge, match="COMMUNE_MAX_SUBMISSION_BYTES"):
            list(client.iter_submission_pages("A25-SKHCN", None))


def test_a_failing_unit_keeps_what_it_received_and_reports_failure(faulty, tmp_path: Path):
    faulty.set_faults(down_units=["A25-SKHCN"])
    with client_for(faulty, retry=RetryPolicy(max_attempts=2, backoff_base=0.01)) as client:
        result = pull_unit(client, {"unit_code": "A25-SKHCN", "watermark": None}, tmp_path, 500)
    assert result.outcome == "failed" and "HTTP 503" in result.error
    assert (tmp_path / "A25-SKHCN.jsonl").read_text() == ""
    assert not list(tmp_path.glob(f"*{TEMP_SUFFIX}"))


FLOATS = "[0.0, -0.0, 1E2, 100.0, 0.1, 2.5e-3, 1e-4, 9.5e-05, 1e-05, 1e15, 9999999999999998.0, 1e16, 1.5e300]"


@pytest.mark.parametrize(
    "body",
    [
        b'{"items": [{"a": 1, "a": 2, "n": 0.1, "big": 123456789012345678901234567890}]}',
        b'{"items": [{"x": NaN, "y": Infinity}]}',  # json accepts them, msgspec does not
        b'{"items": [{"s": "\\ud800", "e": "\\u00e9", "f": 1e400}]}',
        '\ufeff{"items": [{"t": "Hòa"}]}'.encode(),  # a byte-order mark
        '{"items": [{"t": "Hoà"}]}'.encode("utf-16"),  # json detects other encodings
        b'{"items": [{"pct": 12.5, "mbps": 0.0, "h": 3, "t": "\\u0001\\n\\"\\\\/\\u2028"}, [1.0, 1e-4]]}',
        # Floats json writes in another form than msgspec (1e+16, 1e-05): json writes the page.
        *(f'{{"items": [{{"f": {f}}}]}}'.encode() for f in FLOATS.strip("[]").split(", ")),
    ],
)
def test_pages_parse_and_write_back_exactly_as_json_does(body):
    from commune_dx.portal_client import _encode_records, _parse_object

    parsed, exact = _parse_object(body, "http://portal/api/v1/submissions")
    expected = json.loads(body)
    assert json.dumps(parsed, ensure_ascii=False) == json.dumps(expected, ensure_ascii=False)
    if "\\ud800" in body.decode("utf-8", "replace"):
        return  # not valid Unicode: see the next test
    records = _encode_records(parsed["items"], exact, "U")
    assert records == [
        json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode() for item in expected["items"]
    ]


def test_every_float_form_is_written_back_as_json_writes_it():
    from commune_dx.portal_client import _encode_records, _parse_object

    body = f'{{"items": [{{"f": {FLOATS}}}]}}'.encode()
    parsed, exact = _parse_object(body, "http://portal/api/v1/submissions")
    assert not exact  # 1e-05 and 1e16 are written differently by msgspec: json decides
    record = _encode_records(parsed["items"], exact, "U")[0]
    assert record == json.dumps(json.loads(body)["items"][0], separators=(",", ":")).encode()
    assert b"1e-05" in record and b"1e+16" in record
    safe = b'{"items": [{"f": [0.0, -0.0, 100.0, 0.1, 1e-4, 1e15, 9999999999999998.0]}]}'
    parsed, exact = _parse_object(safe, "http://portal/api/v1/submissions")
    assert exact
    assert _encode_records(parsed["items"], exact, "U")[0] == (
        b'{"f":[0.0,-0.0,100.0,0.1,0.0001,1000000000000000.0,9999999999999998.0]}'
    )


def test_a_record_that_is_not_valid_unicode_fails_its_unit_with_a_clear_error():
    from commune_dx.portal_client import PortalProtocolError, _encode_records, _parse_object

    body = b'{"items": [{"submission_id": "S1", "s": "ok \\ud800"}]}'
    parsed, exact = _parse_object(body, "http://portal/api/v1/submissions")
    with pytest.raises(PortalProtocolError, match=r"'S1' of unit U contains text that is not valid Unicode"):
        _encode_records(parsed["items"], exact, "U")


def test_a_page_that_is_not_json_is_a_protocol_error():
    from commune_dx.portal_client import PortalProtocolError, _parse_object

    with pytest.raises(PortalProtocolError, match="did not answer JSON"):
        _parse_object(b'{"items": [1, 2', "http://portal/api/v1/submissions")


# -- a hostile portal (issue 16): each unit's pull ends, within its budget, with a reason ------

CLOCK = "2025-09-22T01:00:00+07:00"


def hostile(portal, mode: str, **faults) -> str:
    """Make one unit of ``portal`` hostile in ``mode``; returns its code."""
    unit = portal.dataset.units[0]["unit_code"]
    portal.set_clock(CLOCK)
    portal.set_faults(hostile_units={unit: mode}, **faults)
    return unit


def pull_all(client: PortalClient, unit: str, budget=None, limit: int = 500) -> list[bytes]:
    return [r for page in client.iter_submission_pages(unit, None, limit=limit, budget=budget)
            for r in page.records]


@pytest.mark.parametrize(
    "mode,error,message",
    [
        ("repeat_token", PortalProtocolError, "sent page token 'the-same-token' a second time"),
        ("stuck_cursor", PullBudgetExceeded, "still had more after 5 pages"),
        ("deep_json", PortalProtocolError, "nested too deeply to read"),
        ("item_not_object", PortalProtocolError, "is a JSON int, not a submission object"),
        ("bad_unicode", PortalProtocolError, "contains text that is not valid Unicode"),
    ],
)
def test_a_listing_that_never_ends_or_cannot_be_read_fails_its_unit_at_once(faulty, mode, error, message):
    unit = hostile(faulty, mode)
    sleeps: list[float] = []
    started = time.monotonic()
    with client_for(faulty, sleep=sleeps.append) as client:
        with pytest.raises(error, match=message):
            pull_all(client, unit, PullBudget(max_pages=5))
    assert sleeps == [] and time.monotonic() - started < 10  # nothing a retry could fix


def test_a_dripping_response_ends_at_the_units_time_budget(faulty):
    unit = hostile(faulty, "drip", drip_ms=100)
    started = time.monotonic()
    with client_for(faulty) as client:
        with pytest.raises(PullBudgetExceeded, match=r"longer than 1.5 s \(COMMUNE_UNIT_MAX_SECONDS\)"):
            pull_all(client, unit, PullBudget(max_seconds=1.5))
    assert 1.5 <= time.monotonic() - started < 5


def test_retries_and_their_waits_end_at_the_units_time_budget(faulty):
    faulty.set_faults(down_units=["A25-SKHCN"])
    retry = RetryPolicy(max_attempts=50, backoff_base=0.2, backoff_max=0.5)
    started = time.monotonic()
    with client_for(faulty, retry=retry) as client:
        with pytest.raises(PullBudgetExceeded, match="COMMUNE_UNIT_MAX_SECONDS"):
            pull_all(client, "A25-SKHCN", PullBudget(max_seconds=1.0))
    assert time.monotonic() - started < 3


def test_a_unit_over_its_byte_budget_fails_after_the_pages_that_fit(faulty):
    with client_for(faulty) as client:
        everything = pull_all(client, "A25-SKHCN", limit=1)
        budget = PullBudget(max_bytes=len(b"".join(everything)) // 2)  # pages weigh more
        received: list[bytes] = []
        with pytest.raises(PullBudgetExceeded, match="COMMUNE_UNIT_MAX_BYTES"):
            for page in client.iter_submission_pages("A25-SKHCN", None, limit=1, budget=budget):
                received += page.records
    assert len(everything) >= 3 and 1 <= len(received) < len(everything)


def test_a_huge_error_body_is_read_under_a_cap_and_cut_in_the_message(faulty):
    unit = hostile(faulty, "huge_error")
    started = time.monotonic()
    with client_for(faulty) as client:
        with pytest.raises(PortalProtocolError, match="HTTP 403") as raised:
            pull_all(client, unit)
    assert len(str(raised.value)) < 500 and "the rest not read" in str(raised.value)
    assert time.monotonic() - started < 5


def test_a_retry_after_that_is_no_finite_number_falls_back_to_the_backoff(faulty):
    unit = hostile(faulty, "bad_retry_after")
    expected = [s for s in faulty.dataset.submissions
                if s["unit_code"] == unit and s["updated_at"] <= "2025-09-22"]
    sleeps: list[float] = []
    with client_for(faulty, sleep=sleeps.append) as client:
        for _ in range(3):  # inf, nan, 1e999, -1, an HTTP date: one each listing
            assert len(pull_all(client, unit)) == len(expected) > 0
    assert len(sleeps) == 3 and all(0 <= s <= FAST.backoff_max for s in sleeps)


@pytest.mark.parametrize("token", ["abc def", "abc\n", "\tabc", "ab\x00c", "abc\u00a0", "tökén"])
def test_a_token_with_whitespace_or_control_characters_is_refused_without_showing_it(token):
    secret = f"SECRET{token}"
    with pytest.raises(ConnectionConfigError, match="without spaces or line breaks") as raised:
        PortalConfig.from_connection_fields("commune_portal", "http://portal", secret)
    text = "".join(traceback.format_exception(raised.value))
    assert "SECRET" not in text
    assert "SECRET" not in repr(PortalConfig("http://portal", "SECRET-token"))


def test_a_gzip_page_is_read_decoded_under_its_budget():
    """Portals behind a proxy often gzip: the bounded read decodes as requests would."""
    import gzip
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    items = [{"submission_id": f"S{i}", "note": "Hòa Bình " * 10} for i in range(500)]
    body = gzip.compress(json.dumps({"items": items, "next_page_token": None}).encode())

    class Gzipped(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Gzipped)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = PortalConfig(f"http://127.0.0.1:{server.server_address[1]}", "t")
        with PortalClient(config) as client:
            (page,) = list(client.iter_submission_pages("U", None))
            assert page.items == items
            with pytest.raises(PullBudgetExceeded, match="COMMUNE_UNIT_MAX_BYTES"):
                list(client.iter_submission_pages("U", None, budget=PullBudget(max_bytes=len(body) * 2)))
    finally:
        server.shutdown()
        server.server_close()
