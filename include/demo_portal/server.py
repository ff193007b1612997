"""The demo portal: a real HTTP server on loopback that implements ``contract/openapi.yaml``.

It serves the deterministic demo data of ``demo_data.py`` with the API's semantics (bearer
token, listing order, exclusive ``updated_since``, stable keyset page tokens) plus two demo
facilities: a clock (only versions with ``updated_at <= now`` are served, and the Date header
shows it) and fault injection on ``/api/v1/submissions`` (503, 429 with ``Retry-After``,
dropped connections, latency, units that are always down, hostile units: see
``faults.HOSTILE_MODES``). ``POST /_demo/control`` changes both at run time.

From Python::

    with start_demo_portal(port=0, token="demo-token") as portal:
        portal.set_clock("2025-09-22T01:00:00+07:00")
        requests.get(f"{portal.url}/api/v1/units", headers={"Authorization": "Bearer demo-token"})

From a shell: ``python -m demo_portal --port 8765 --token demo-token``.
"""

from __future__ import annotations

import argparse
import hmac
import json
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from demo_portal.demo_data import DemoDataset, build_demo_dataset
from demo_portal.faults import HOSTILE_MODES, Fault, FaultInjector, FaultSettings
from demo_portal.listing import (
    BadListingRequest,
    SubmissionIndex,
    encode_page_token,
    parse_instant,
    parse_listing_query,
)

DEFAULT_TOKEN = "demo-token"
API = "/api/v1"
CONTROL_PATH = "/_demo/control"
MAX_BODY_BYTES = 64 * 1024
JSON_TYPE = "application/json; charset=utf-8"
ROUTES: dict[str, tuple[str, ...]] = {
    f"{API}/health": ("GET",),
    f"{API}/units": ("GET",),
    f"{API}/tasks": ("GET",),
    f"{API}/submissions": ("GET",),
    CONTROL_PATH: ("GET", "POST"),
}
FAULT_FIELDS = (
    "fail_503",
    "fail_429",
    "fail_drop",
    "latency_ms",
    "down_units",
    "retry_after_s",
    "hostile_units",
    "drip_ms",
    "units_listing",
)
# Entries of /units whose unit code is not valid (units_listing "invalid_codes").
INVALID_UNIT_ENTRIES = [
    {"unit_code": "../etc", "unit_name": "Path", "unit_type": "xa", "province_code": "25"},
    {"unit_code": None, "unit_name": "Không mã", "unit_type": "xa", "province_code": "25"},
    "not a unit",
]
# Retry-After values a hostile unit sends in turn: none is a finite number of seconds but -1.
HOSTILE_RETRY_AFTER = ("inf", "nan", "1e999", "-1", "Thu, 01 Jan 2099 00:00:00 GMT")


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass
class Reply:
    """One HTTP response (``drop``: close the connection without answering)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    drip_seconds: float = 0.0  # send the body a byte at a time, this far apart


def error_reply(status: int, error: str, detail: str, **headers: str) -> Reply:
    """A JSON error body as the API's ``Error`` schema has it."""
    return Reply(status, _json_bytes({"error": error, "detail": detail}), dict(headers))


class PortalState:
    """What the server serves and how: the data, the clock and the faults. Thread-safe."""

    def __init__(
        self,
        dataset: DemoDataset,
        token: str,
        faults: FaultSettings | None = None,
        fault_seed: int = 1,
        now: str | datetime | None = None,
    ) -> None:
        self.dataset = dataset
        self.token = token
        self.unit_codes = {unit["unit_code"] for unit in dataset.units}
        self.index = SubmissionIndex(dataset.submissions)
        self.units_body = _json_bytes({"items": dataset.units})
        self.tasks_body = _json_bytes({"items": dataset.tasks})
        self.faults = FaultInjector(faults, fault_seed)
        self._lock = threading.Lock()
        self._clock: tuple[int, str] | None = None
        self.set_clock(now)

    def set_clock(self, now: str | datetime | None) -> None:
        """Serve only versions with ``updated_at <= now`` (None: serve everything).

        Raises ValueError for a time without offset or not in RFC 3339.
        """
        if isinstance(now, datetime):
            if now.tzinfo is None:
                raise ValueError("the portal clock needs a time zone offset")
            now = now.isoformat()
        clock = None if now is None else (parse_instant(now), now)
        with self._lock:
            self._clock = clock

    @property
    def clock(self) -> int | None:
        """The clock in µs since the epoch (None: no clock, serve everything)."""
        with self._lock:
            return None if self._clock is None else self._clock[0]

    def describe(self) -> dict[str, Any]:
        """Clock and faults, as the control endpoint reports them."""
        with self._lock:
            now = None if self._clock is None else self._clock[1]
        return {"now": now, "faults": self.faults.settings.as_json()}

    def authorised(self, header: str | None) -> bool:
        """Whether an Authorization header carries this portal's bearer token."""
        scheme, _, credentials = (header or "").partition(" ")
        presented = credentials.strip().encode("utf-8", "surrogateescape")
        return scheme.lower() == "bearer" and hmac.compare_digest(presented, self.token.encode())


def list_submissions(state: PortalState, params: dict[str, list[str]]) -> Reply:
    """``GET /api/v1/submissions``: one page, after the injected faults have had their say."""
    latency_ms = state.faults.settings.latency_ms
    if latency_ms:
        time.sleep(latency_ms / 1000)
    mode = state.faults.settings.hostile_units.get((params.get("unit") or [""])[0])
    if mode:
        return hostile_listing(state, params, mode)
    try:
        query = parse_listing_query(params, state.unit_codes, state.clock)
    except BadListingRequest as error:
        return error_reply(400, "bad_request", str(error))
    fault = state.faults.decide(query.unit)
    if fault is Fault.DROP:
        return Reply(0, drop=True)
    if fault is Fault.UNIT_DOWN:
        return error_reply(503, "unavailable", f"the data source of unit {query.unit} is down; retry later")
    if fault is Fault.UNAVAILABLE:
        return error_reply(503, "unavailable", "the portal is temporarily unavailable; retry")
    if fault is Fault.RATE_LIMITED:
        seconds = str(state.faults.settings.retry_after_s)
        return error_reply(
            429, "rate_limited", f"too many requests; retry after {seconds} s", **{"Retry-After": seconds}
        )
    page = state.index.page(query)
    token = None
    if page.continue_after is not None:
        token = encode_page_token(query, page.continue_after)
    body = b'{"items":[' + b",".join(page.items) + b'],"next_page_token":' + _json_bytes(token) + b"}"
    return Reply(200, body)


def units_listing(state: PortalState) -> bytes:
    """``GET /api/v1/units`` as the ``units_listing`` fault setting has it."""
    mode = state.faults.settings.units_listing
    if mode == "empty":
        return b'{"items":[]}'
    if mode == "shrunk":
        return _json_bytes({"items": state.dataset.units[: len(state.dataset.units) // 2]})
    if mode == "invalid_codes":
        return _json_bytes({"items": [*state.dataset.units, *INVALID_UNIT_ENTRIES]})
    return state.units_body


def _listing_body(items: list[bytes], token: str | None) -> bytes:
    return b'{"items":[' + b",".join(items) + b'],"next_page_token":' + _json_bytes(token) + b"}"


def _extra_version(last: bytes, mode: str) -> bytes:
    """A new version of the page's last submission, broken the way ``mode`` says."""
    item = json.loads(last)
    item["version"] += 1
    if mode == "bad_unicode":
        item["submission_id"] += "\ud800"
    elif mode == "payload_not_object":
        item["payload"] = [1, 2, 3]
    elif mode == "float_form_version":
        item["form_version"] = 1.0
    elif mode == "bad_submitted_at":
        item["submitted_at"] = item["submitted_at"].replace("T", " ")
    elif mode == "bad_updated_at":
        item["updated_at"] = item["updated_at"][:19]
    elif mode == "future_version":
        item["updated_at"] = "2099-01-01T00:00:00+07:00"
    # ASCII with escapes: the lone surrogate travels as the valid JSON text "\\ud800".
    return json.dumps(item, separators=(",", ":")).encode("ascii")


def hostile_listing(state: PortalState, params: dict[str, list[str]], mode: str) -> Reply:
    """A hostile unit's listing (``faults.HOSTILE_MODES``). Page tokens are ignored: each
    request answers the unit's first page, broken as ``mode`` says."""
    unit = params["unit"][0]
    seen = state.faults.count(unit)
    if mode == "huge_error":
        return error_reply(403, "forbidden", "x" * (8 * 1024 * 1024))
    if mode == "deep_json":
        depth = 100_000
        return Reply(200, b'{"items":[' + b"[" * depth + b"]" * depth + b'],"next_page_token":null}')
    if mode == "bad_retry_after" and seen % 2 == 0:
        value = HOSTILE_RETRY_AFTER[(seen // 2) % len(HOSTILE_RETRY_AFTER)]
        return error_reply(429, "rate_limited", "too many requests", **{"Retry-After": value})
    try:
        first = parse_listing_query(
            {k: v for k, v in params.items() if k != "page_token"}, state.unit_codes, state.clock
        )
    except BadListingRequest as error:
        return error_reply(400, "bad_request", str(error))
    page = state.index.page(first)
    items = list(page.items)
    if mode == "repeat_token":
        return Reply(200, _listing_body(items, "the-same-token"))
    if mode == "stuck_cursor":
        return Reply(200, _listing_body(items, f"cursor-{seen}"))
    if mode == "drip":
        return Reply(200, _listing_body(items, None), drip_seconds=state.faults.settings.drip_ms / 1000)
    if mode == "item_not_object":
        return Reply(200, _listing_body([*items, b"42"], None))
    if items and mode != "bad_retry_after":
        items.append(_extra_version(items[-1], mode))
    return Reply(200, _listing_body(items, None))


def _check_number(body: dict[str, Any], name: str, integer: bool) -> None:
    """Raise ValueError unless ``body[name]`` is absent, null or a number (an int if ``integer``)."""
    value = body.get(name)
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    if value is not None and (isinstance(value, bool) or not isinstance(value, kinds)):
        raise ValueError(f"{name} must be {'an integer' if integer else 'a number'}")


@dataclass(frozen=True)
class ControlRequest:
    """A checked ``POST /_demo/control`` body."""

    fault_changes: dict[str, Any]
    fault_seed: int | None
    sets_clock: bool
    now: str | None


def parse_control_request(state: PortalState, raw_body: bytes) -> ControlRequest:
    """Check a control request's JSON body. Raises ValueError naming what is wrong."""
    body = json.loads(raw_body.decode("utf-8") or "{}")
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    unknown = set(body) - {"now", "fault_seed", *FAULT_FIELDS}
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
    for name in ("fail_503", "fail_429", "fail_drop"):
        _check_number(body, name, integer=False)
    if not isinstance(body.get("units_listing", ""), str):
        raise ValueError("units_listing must be a string")
    for name in ("latency_ms", "retry_after_s", "fault_seed", "drip_ms"):
        _check_number(body, name, integer=True)
    hostile = body.get("hostile_units") or {}
    if not isinstance(hostile, dict) or not all(isinstance(m, str) for m in hostile.values()):
        raise ValueError(f"hostile_units must map unit codes to modes ({', '.join(HOSTILE_MODES)})")
    unknown_hostile = set(hostile) - state.unit_codes
    if unknown_hostile:
        raise ValueError(f"unknown unit(s) in hostile_units: {', '.join(sorted(unknown_hostile))}")
    units = body.get("down_units") or []
    if not isinstance(units, list) or not all(isinstance(u, str) for u in units):
        raise ValueError("down_units must be a list of unit codes")
    unknown_units = set(units) - state.unit_codes
    if unknown_units:
        raise ValueError(f"unknown unit(s) in down_units: {', '.join(sorted(unknown_units))}")
    now = body.get("now")
    if now is not None and not isinstance(now, str):
        raise ValueError("now must be an RFC 3339 date-time or null")
    if now is not None:
        parse_instant(now)
    return ControlRequest(
        fault_changes={name: body[name] for name in FAULT_FIELDS if name in body},
        fault_seed=body.get("fault_seed"),
        sets_clock="now" in body,
        now=now,
    )


def control(state: PortalState, method: str, raw_body: bytes) -> Reply:
    """``/_demo/control`` (demo only): GET shows, POST changes the clock and the faults.

    A POST changes nothing unless all of it is valid.
    """
    if method == "POST":
        try:
            request = parse_control_request(state, raw_body)
            state.faults.update(seed=request.fault_seed, **request.fault_changes)
        except (ValueError, UnicodeDecodeError) as error:
            return error_reply(400, "bad_request", str(error))
        if request.sets_clock:
            state.set_clock(request.now)
    return Reply(200, _json_bytes(state.describe()))


class PortalHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its portal state and can cut open connections."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: PortalState, verbose: bool = False) -> None:
        super().__init__(address, PortalRequestHandler)
        self.state = state
        self.verbose = verbose
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (one refusing an oversized page stops reading it) or a
        # connection this server cut (close_open_connections) is not the portal's error.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        """Cut every kept-alive connection, so a stopped portal really stops answering."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class PortalRequestHandler(BaseHTTPRequestHandler):
    """Routes one request at a time on a kept-alive HTTP/1.1 connection."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # without it, Nagle's algorithm stalls each small keep-alive response
    timeout = 60  # idle kept-alive connections are closed after a minute
    server_version = "CommuneDemoPortal/1.0"
    server: PortalHTTPServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle("HEAD")

    def do_OPTIONS(self) -> None:  # noqa: N802
        self._handle("OPTIONS")

    def do_TRACE(self) -> None:  # noqa: N802
        self._handle("TRACE")

    def do_QUERY(self) -> None:  # noqa: N802 (the HTTP QUERY method draft)
        self._handle("QUERY")

    def _read_body(self) -> bytes | None:
        """The request body (None when it is too large to read)."""
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            return None
        return self.rfile.read(int(length))

    def _handle(self, method: str) -> None:
        try:
            reply = self._route(method)
        except Exception as error:  # a bug must not kill the connection silently
            self.log_error("internal error on %s %s: %r", method, self.path, error)
            reply = error_reply(500, "internal_error", "the demo portal failed; see its log")
        self._send(reply, head_only=method == "HEAD")

    def _route(self, method: str) -> Reply:
        body = self._read_body()
        if body is None:
            self.close_connection = True
            return error_reply(413, "too_large", f"request bodies are limited to {MAX_BODY_BYTES} B")
        parts = urlsplit(self.path)
        allowed = ROUTES.get(parts.path)
        if allowed is None:
            return error_reply(404, "not_found", f"no such path: {parts.path}")
        if method not in allowed:
            return error_reply(
                405,
                "method_not_allowed",
                f"{parts.path} answers {', '.join(allowed)}",
                Allow=", ".join(allowed),
            )
        state = self.server.state
        if parts.path == f"{API}/health":
            return Reply(200, b'{"status":"ok"}')
        if not state.authorised(self.headers.get("Authorization")):
            return error_reply(
                401,
                "unauthorized",
                "missing or wrong bearer token: send 'Authorization: Bearer <token>'",
                **{"WWW-Authenticate": 'Bearer realm="commune-portal"'},
            )
        if parts.path == f"{API}/units":
            return Reply(200, units_listing(state))
        if parts.path == f"{API}/tasks":
            return Reply(200, state.tasks_body)
        if parts.path == CONTROL_PATH:
            return control(state, method, body)
        return list_submissions(state, parse_qs(parts.query, keep_blank_values=True))

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header: the portal's clock when it is set (a portal's own clock)."""
        clock = self.server.state.clock
        if timestamp is None and clock is not None:
            timestamp = clock / 1_000_000
        return formatdate(timestamp, usegmt=True)

    def _send(self, reply: Reply, head_only: bool) -> None:
        if reply.drop:
            self.close_connection = True
            return
        if reply.drip_seconds:
            self.close_connection = True  # a client that gave up must not get the rest later
        self.send_response(reply.status)
        self.send_header("Content-Type", JSON_TYPE)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if head_only:
            return
        if not reply.drip_seconds:
            self.wfile.write(reply.body)
            return
        for index in range(len(reply.body)):  # ends when the client hangs up (OSError)
            self.wfile.write(reply.body[index : index + 1])
            time.sleep(reply.drip_seconds)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
        """Quiet unless the portal runs with ``verbose``."""
        if self.server.verbose:
            super().log_message(format, *args)


class RunningPortal:
    """A demo portal serving in a background thread; stop it with ``stop()`` or ``with``."""

    def __init__(self, server: PortalHTTPServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        host, port = server.server_address[:2]
        self.host: str = str(host)
        self.port: int = int(port)
        self.url = f"http://{self.host}:{self.port}"
        self.token = server.state.token

    @property
    def dataset(self) -> DemoDataset:
        """The data being served."""
        return self._server.state.dataset

    @property
    def faults(self) -> FaultSettings:
        """The fault settings in force."""
        return self._server.state.faults.settings

    def set_clock(self, now: str | datetime | None) -> None:
        """Serve only versions with ``updated_at <= now``; None serves everything."""
        self._server.state.set_clock(now)

    def set_faults(self, fault_seed: int | None = None, **changes: Any) -> FaultSettings:
        """Change some fault settings (``fail_503``, ``fail_429``, ``fail_drop``, ``latency_ms``,
        ``down_units``, ``retry_after_s``, ``hostile_units``, ``drip_ms``, ``units_listing``);
        ``fault_seed`` restarts the fault sequence."""
        return self._server.state.faults.update(seed=fault_seed, **changes)

    def clear_faults(self) -> FaultSettings:
        """No faults, no latency, no unit down."""
        return self.set_faults(**FaultSettings().as_json())

    def stop(self) -> None:
        """Stop serving, cut open connections and free the port. Safe to call twice."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.close_open_connections()
        self._server.server_close()

    def __enter__(self) -> RunningPortal:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def start_demo_portal(
    host: str = "127.0.0.1",
    port: int = 0,
    token: str = DEFAULT_TOKEN,
    *,
    province_code: str = "25",
    seed: int = 57,
    now: str | datetime | None = None,
    fault_seed: int = 1,
    verbose: bool = False,
    dataset: DemoDataset | None = None,
    **faults: Any,
) -> RunningPortal:
    """Start a demo portal in a background thread and return once it accepts connections.

    ``port=0`` picks a free port (see ``.url``). ``faults`` are FaultSettings fields
    (``fail_503``, ``fail_429``, ``fail_drop``, ``latency_ms``, ``down_units``,
    ``retry_after_s``). Raises OSError when the address is taken, ValueError for bad settings.
    """
    settings = FaultSettings.build(**faults)
    state = PortalState(dataset or build_demo_dataset(province_code, seed), token, settings, fault_seed, now)
    server = PortalHTTPServer((host, port), state, verbose)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="demo-portal", daemon=True
    )
    thread.start()
    return RunningPortal(server, thread)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m demo_portal",
        description="Serve the demo Commune Reporting API (contract/openapi.yaml) on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 = any free)")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="bearer token clients must send")
    parser.add_argument("--province", default="25", help="province code (default 25, Phú Thọ)")
    parser.add_argument("--seed", type=int, default=57, help="demo data seed (default 57)")
    parser.add_argument("--now", default=None, help="portal clock, RFC 3339 (default: serve everything)")
    parser.add_argument("--fail-503", type=float, default=0.0, help="rate of 503 answers (0–1)")
    parser.add_argument("--fail-429", type=float, default=0.0, help="rate of 429 answers (0–1)")
    parser.add_argument(
        "--fail-drop", type=float, default=0.0, help="rate of connections dropped without an answer (0–1)"
    )
    parser.add_argument("--latency-ms", type=int, default=0, help="latency added to listings")
    parser.add_argument("--down-units", default="", help="comma-separated units always 503")
    parser.add_argument("--retry-after", type=int, default=1, help="Retry-After of 429s, seconds")
    parser.add_argument("--fault-seed", type=int, default=1, help="seed of the fault sequence")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, dataset: DemoDataset | None = None, label: str = "") -> int:
    """Run the demo portal in the foreground until SIGINT or SIGTERM.

    ``dataset`` replaces the province's demo data: the benchmark serves its national history
    this way (``python -m bench.national_portal``) without the portal knowing about it.
    """
    args = _parse_args(argv)
    down = [code.strip() for code in args.down_units.split(",") if code.strip()]
    try:
        portal = start_demo_portal(
            args.host,
            args.port,
            args.token,
            province_code=args.province,
            seed=args.seed,
            now=args.now,
            fault_seed=args.fault_seed,
            verbose=args.verbose,
            fail_503=args.fail_503,
            fail_429=args.fail_429,
            fail_drop=args.fail_drop,
            latency_ms=args.latency_ms,
            down_units=down,
            retry_after_s=args.retry_after,
            dataset=dataset,
        )
    except (OSError, ValueError) as error:
        print(f"demo portal: cannot start on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    data = portal.dataset
    print(
        f"demo portal: {label or f'province {args.province}'}, "
        f"{len(data.units)} units, {len(data.tasks)} "
        f"tasks, {len(data.submissions)} submission versions",
        file=sys.stderr,
    )
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    print(f"demo portal listening on {portal.url}", flush=True)
    while not stopping.wait(0.5):
        pass
    portal.stop()
    print("demo portal stopped", file=sys.stderr)
    return 0
