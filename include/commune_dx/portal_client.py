"""HTTP client for the Commune Reporting API (``contract/openapi.yaml``).

Transient failures (5xx, 429, dropped connections, timeouts) are retried with exponential
backoff; 429 honours ``Retry-After``. Failures that retrying cannot fix (401, 400, a malformed
connection, an oversized response) raise at once with a message that says what to do.

A unit's listing is pulled under a :class:`PullBudget` (pages, bytes, wall-clock seconds): a
portal that pages for ever, drips a byte at a time or keeps failing cannot hold the night.
"""

from __future__ import annotations

import json
import math
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import msgspec
import requests

TRANSIENT_STATUSES = {500, 502, 503, 504}
MAX_RETRY_AFTER_SECONDS = 120.0
# An error answer is read only this far: its detail is for a one-line message, not a download.
MAX_ERROR_BODY_BYTES = 4 * 1024
MAX_DETAIL_CHARS = 200
# Token characters: RFC 6750's b64token, and more printable ASCII some portals use; never
# whitespace or control characters (they would break or forge the Authorization header).
TOKEN_CHARACTERS = frozenset(chr(c) for c in range(0x21, 0x7F))


class PipelineError(Exception):
    """An error the operator must act on; its message is one line that says what and why."""


class ConnectionConfigError(PipelineError):
    """The Airflow connection ``commune_portal`` is missing or malformed."""


class PortalUnreachable(PipelineError):
    """The portal did not answer (refused, timed out, kept failing with 5xx)."""


class PortalAuthError(PipelineError):
    """The portal refused the bearer token (401)."""


class PortalBadRequest(PipelineError):
    """The portal rejected a request as malformed (400): retrying will not help."""


class PortalResponseTooLarge(PipelineError):
    """A page or a submission exceeded the configured size limit."""


class PortalProtocolError(PipelineError):
    """The portal answered with something that is not the API's JSON."""


class PullBudgetExceeded(PipelineError):
    """A unit's pull used up its pages, bytes or seconds (see :class:`PullBudget`)."""


class PullStopped(PipelineError):
    """The pull was asked to stop (the task is being terminated)."""


@dataclass(frozen=True)
class PullBudget:
    """What one unit's pull may use: pages, bytes received and wall-clock seconds, retries
    and waits included (settings ``COMMUNE_UNIT_MAX_PAGES``, ``_MAX_BYTES``, ``_MAX_SECONDS``)."""

    max_pages: int = 2_000
    max_bytes: int = 512 * 1024 * 1024
    max_seconds: float = 900.0


@dataclass
class _Spending:
    """A pull's use of its budget so far."""

    budget: PullBudget
    unit_code: str
    deadline: float = field(init=False)
    pages: int = 0
    bytes: int = 0

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.budget.max_seconds

    def remaining_seconds(self) -> float:
        return self.deadline - time.monotonic()

    def over_time(self) -> PullBudgetExceeded:
        return PullBudgetExceeded(
            f"unit {self.unit_code}: pull took longer than {self.budget.max_seconds:g} s "
            f"(COMMUNE_UNIT_MAX_SECONDS) after {self.pages} page(s); the next night resumes it"
        )


@dataclass(frozen=True)
class PortalConfig:
    """Where the portal is and how to authenticate; built from the Airflow connection."""

    base_url: str
    token: str = field(repr=False)  # never in a log line or a traceback's repr

    @classmethod
    def from_connection_fields(
        cls, conn_id: str, host: str | None, password: str | None, schema: str | None = None,
        port: int | None = None,
    ) -> PortalConfig:
        """Validate a connection's fields: ``host`` = base URL, ``password`` = bearer token."""
        host = (host or "").strip()
        if not host:
            raise ConnectionConfigError(
                f"connection {conn_id!r} has no host: set host to the portal's base URL, "
                "e.g. http://127.0.0.1:8765"
            )
        if "://" not in host:
            scheme = schema if schema in ("http", "https") else "http"
            host = f"{scheme}://{host}"
        parts = urlsplit(host)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConnectionConfigError(
                f"connection {conn_id!r} has host {host!r}, which is not an http(s) URL: "
                "set host to the portal's base URL, e.g. http://127.0.0.1:8765"
            )
        try:
            url_port = parts.port
        except ValueError as exc:
            raise ConnectionConfigError(
                f"connection {conn_id!r} has host {host!r} with an invalid port: {exc}"
            ) from exc
        if port and not url_port:
            host = f"{parts.scheme}://{parts.hostname}:{port}{parts.path}"
        if not password:
            raise ConnectionConfigError(
                f"connection {conn_id!r} has no password: set it to the portal's bearer token"
            )
        bad = [i for i, char in enumerate(password) if char not in TOKEN_CHARACTERS]
        if bad:
            # The message names positions only: the token itself must never reach a log.
            raise ConnectionConfigError(
                f"connection {conn_id!r} has a password of {len(password)} characters with "
                f"whitespace, control or non-ASCII characters (at position(s) "
                f"{', '.join(str(i + 1) for i in bad[:5])}): set it to the bearer token exactly, "
                "without spaces or line breaks"
            ) from None
        return cls(base_url=host.rstrip("/"), token=password)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry transient failures."""

    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    connect_timeout: float = 5.0
    read_timeout: float = 60.0

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (full jitter)."""
        ceiling = min(self.backoff_max, self.backoff_base * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)


@dataclass
class Page:
    """One page of ``/api/v1/submissions``: items as parsed JSON, and each as its record: compact
    JSON in UTF-8, non-ASCII as is (``json.dumps(item, ensure_ascii=False, separators=(",",
    ":"))``), the bytes the landing zone keeps and the content hash is taken over."""

    items: list[dict[str, Any]]
    records: list[bytes]
    next_page_token: str | None
    served_at: datetime | None = None  # the portal's clock (Date header) when it answered


class PortalClient:
    """A client for one portal; not shared between threads (one per unit pull or thread)."""

    def __init__(
        self,
        config: PortalConfig,
        retry: RetryPolicy | None = None,
        max_page_bytes: int = 32 * 1024 * 1024,
        max_submission_bytes: int = 256 * 1024,
        sleep: Callable[[float], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.config = config
        self.retry = retry or RetryPolicy()
        self.max_page_bytes = max_page_bytes
        self.max_submission_bytes = max_submission_bytes
        # Once ``stop`` is set, waits end and reads stop at the next chunk (PullStopped).
        self._stop = stop or threading.Event()
        self._sleep = sleep or self._stop.wait
        self.last_served_at: datetime | None = None
        self._session = requests.Session()
        self._session.headers.update(
            {"Authorization": f"Bearer {config.token}", "Accept": "application/json"}
        )
        # requests reads the environment (proxies, CA bundle, .netrc) again on every request,
        # walking all of os.environ each time. Read it once here.
        self._session.trust_env = False
        self._session.proxies.update(requests.utils.get_environ_proxies(config.base_url))
        ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if ca_bundle:
            self._session.verify = ca_bundle
        # Every request is a GET with the session's headers: prepared once, copied per request
        # with its URL (Session.get merges and prepares them again on every request, and a
        # national night makes thousands).
        self._template = self._session.prepare_request(requests.Request("GET", config.base_url))
        self._base_url = self._template.url.rstrip("/")

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> PortalClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- requests ---------------------------------------------------------------------------

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET ``path`` and return its JSON object, retrying transient failures."""
        return _parse_object(self._get(path, params), f"{self.config.base_url}{path}")[0]

    def _get(self, path: str, params: dict[str, Any] | None, spending: _Spending | None = None) -> bytes:
        """GET ``path`` and return the body of its 200 answer, retrying transient failures;
        with ``spending``, within its time and bytes (PullBudgetExceeded otherwise)."""
        url = f"{self.config.base_url}{path}"
        request_url = f"{self._base_url}{path}" + (f"?{urlencode(params)}" if params else "")
        last_problem = "no attempt made"
        for attempt in range(1, self.retry.max_attempts + 1):
            self._check_stop()
            request = self._template.copy()
            request.url = request_url
            read_timeout = self.retry.read_timeout
            if spending is not None:
                remaining = spending.remaining_seconds()
                if remaining <= 0:
                    raise spending.over_time()
                read_timeout = min(read_timeout, remaining)
            try:
                response = self._session.send(
                    request,
                    timeout=(min(self.retry.connect_timeout, read_timeout), read_timeout),
                    stream=True,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                last_problem = _describe_network_error(exc)
                self._wait(attempt, self.retry.backoff(attempt), spending)
                continue
            try:
                status = response.status_code
                self.last_served_at = _served_at(response)
                if status == 200:
                    return self._read_bounded(response, url, spending)
                if status == 429:
                    last_problem = "429 Too Many Requests"
                    self._wait(attempt, _retry_after(response, self.retry.backoff(attempt)), spending)
                    continue
                if status in TRANSIENT_STATUSES:
                    last_problem = f"HTTP {status}"
                    self._wait(attempt, self.retry.backoff(attempt), spending)
                    continue
                detail = _error_detail(response)
                if status == 401:
                    raise PortalAuthError(
                        f"the portal at {self.config.base_url} refused the token (401{detail}): "
                        "set the password of connection 'commune_portal' to a valid bearer token"
                    )
                if status == 400:
                    raise PortalBadRequest(f"the portal rejected GET {path} {params} (400{detail})")
                raise PortalProtocolError(f"GET {url} answered HTTP {status}{detail}")
            except requests.RequestException as exc:
                # The connection dropped while the body was being read.
                last_problem = _describe_network_error(exc)
                self._wait(attempt, self.retry.backoff(attempt), spending)
                continue
            finally:
                response.close()
        raise PortalUnreachable(
            f"GET {url} failed {self.retry.max_attempts} times, last: {last_problem}"
        )

    def _check_stop(self) -> None:
        if self._stop.is_set():
            raise PullStopped("the pull was stopped before it finished (the task is ending)")

    def _wait(self, attempt: int, seconds: float, spending: _Spending | None = None) -> None:
        if attempt < self.retry.max_attempts:
            if spending is not None and seconds >= spending.remaining_seconds():
                raise spending.over_time()
            self._sleep(seconds)
            self._check_stop()

    def _read_bounded(self, response: requests.Response, url: str, spending: _Spending | None) -> bytes:
        """The body, refused past ``max_page_bytes`` or the pull's remaining bytes, and, with
        ``spending``, stopped at its deadline even when each byte arrives in time (a drip)."""
        budget_left = None
        if spending is not None:
            budget_left = spending.budget.max_bytes - spending.bytes
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit():
            self._check_size(url, int(declared), budget_left, spending)
        chunks: list[bytes] = []
        size = 0
        while True:
            # read1: whatever has arrived (one read of the socket), so that a body that
            # trickles in is checked against the deadline between reads.
            chunk = response.raw.read1(64 * 1024, decode_content=True)
            if not chunk:
                break
            size += len(chunk)
            self._check_size(url, size, budget_left, spending)
            chunks.append(chunk)
            self._check_stop()
            if spending is not None and spending.remaining_seconds() <= 0:
                raise spending.over_time()
        if spending is not None:
            spending.bytes += size
        return b"".join(chunks)

    def _check_size(self, url: str, size: int, budget_left: int | None, spending: _Spending | None) -> None:
        """Refuse a body of ``size`` bytes over the page limit or what the unit has left."""
        if size > self.max_page_bytes:
            raise PortalResponseTooLarge(
                f"GET {url} sent or announced more than {self.max_page_bytes:,} bytes, over "
                "the limit (COMMUNE_MAX_PAGE_BYTES); refused without reading the rest"
            )
        if budget_left is not None and spending is not None and size > budget_left:
            raise PullBudgetExceeded(
                f"unit {spending.unit_code}: pull went over its budget of "
                f"{spending.budget.max_bytes:,} bytes (COMMUNE_UNIT_MAX_BYTES) after "
                f"{spending.pages} page(s); the next night resumes it"
            )

    # -- endpoints --------------------------------------------------------------------------

    def health(self) -> None:
        """Raise unless ``/api/v1/health`` answers ``{"status": "ok"}``."""
        body = self.get_json("/api/v1/health")
        if body.get("status") != "ok":
            raise PortalProtocolError(f"{self.config.base_url}/api/v1/health answered {body}")

    def list_units(self) -> list[dict[str, Any]]:
        return _items(self.get_json("/api/v1/units"), "/api/v1/units")

    def list_tasks(self) -> list[dict[str, Any]]:
        return _items(self.get_json("/api/v1/tasks"), "/api/v1/tasks")

    def iter_submission_pages(
        self, unit_code: str, updated_since: datetime | None, limit: int = 500,
        budget: PullBudget | None = None,
    ) -> Iterator[Page]:
        """Yield the unit's submission versions page by page, oldest change first, within
        ``budget``: past it, or when the portal repeats a page token, raise (the pages yielded
        so far stand)."""
        spending = _Spending(budget or PullBudget(), unit_code)
        params: dict[str, Any] = {"unit": unit_code, "limit": limit}
        if updated_since is not None:
            params["updated_since"] = updated_since.isoformat()
        path = "/api/v1/submissions"
        tokens_seen: set[str] = set()
        while True:
            if spending.pages >= spending.budget.max_pages:
                raise PullBudgetExceeded(
                    f"unit {unit_code}: the portal still had more after {spending.pages} pages, "
                    "the unit's budget (COMMUNE_UNIT_MAX_PAGES); its listing may never end"
                )
            body, exact = _parse_object(self._get(path, params, spending), f"{self.config.base_url}{path}")
            spending.pages += 1
            items = _items(body, path)
            for index, item in enumerate(items):
                if not isinstance(item, dict):
                    raise PortalProtocolError(
                        f"unit {unit_code}: item {index} of page {spending.pages} is a JSON "
                        f"{type(item).__name__}, not a submission object; the portal must correct it"
                    )
            try:
                records = _encode_records(items, exact, unit_code)
            except RecursionError:
                raise PortalProtocolError(
                    f"unit {unit_code}: a submission on page {spending.pages} is nested too deeply "
                    "to store; the portal must correct it"
                ) from None
            for item, record in zip(items, records, strict=True):
                if len(record) > self.max_submission_bytes:
                    raise PortalResponseTooLarge(
                        f"submission {item.get('submission_id')!r} of unit {unit_code} is "
                        f"{len(record):,} bytes, over the limit of "
                        f"{self.max_submission_bytes:,} (COMMUNE_MAX_SUBMISSION_BYTES)"
                    )
            token = body.get("next_page_token")
            if token is not None and not isinstance(token, str):
                raise PortalProtocolError(
                    f"unit {unit_code}: next_page_token is a JSON {type(token).__name__}, not a string"
                )
            yield Page(items=items, records=records, next_page_token=token,
                       served_at=self.last_served_at)
            if not token:
                return
            if token in tokens_seen:
                raise PortalProtocolError(
                    f"unit {unit_code}: the portal sent page token {_shorten(token, 40)!r} a second "
                    f"time (page {spending.pages}); its pagination loops, so the pull stops here"
                )
            tokens_seen.add(token)
            params = {"unit": unit_code, "limit": limit, "page_token": token}


# Each version is kept as compact JSON text, non-ASCII as is (one encoder, reused).
_RECORD_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_MSGSPEC_ENCODER = msgspec.json.Encoder()


class _FloatPrintsDifferently(Exception):
    """A float that msgspec would write in another form than json (``1e+16`` or ``1e-05``)."""


def _float_as_json_reads_it(text: str) -> float:
    """msgspec's float hook: the value json.loads gives (``float(text)``), for floats that
    msgspec and json write alike: zero and 1e-4 <= |x| < 1e16, where both write Python's
    shortest repr (checked on 1.8 million random floats). Any other stops msgspec's parse."""
    value = float(text)
    if value != 0.0 and not 1e-4 <= abs(value) < 1e16:
        raise _FloatPrintsDifferently(text)
    return value


_PAGE_DECODER = msgspec.json.Decoder(float_hook=_float_as_json_reads_it)


def _encode_records(items: list[Any], exact: bool, unit_code: str) -> list[bytes]:
    """Each item as its record (see :class:`Page`). Where the page was parsed by msgspec with
    its floats checked (``exact``), msgspec writes the very bytes json would, five times
    faster; otherwise json writes them."""
    if exact:
        return [_MSGSPEC_ENCODER.encode(item) for item in items]
    records = []
    for item in items:
        text = _RECORD_ENCODER.encode(item)
        try:
            records.append(text.encode("utf-8"))
        except UnicodeEncodeError as exc:  # a lone surrogate such as "\ud800" in a string
            submission = item.get("submission_id") if isinstance(item, dict) else None
            raise PortalProtocolError(
                f"submission {submission!r} of unit {unit_code} contains text that is not "
                f"valid Unicode ({exc.reason}: {text[exc.start:exc.end]!a}); the portal must "
                "correct it before this unit can be pulled further"
            ) from exc
    return records


def _items(body: dict[str, Any], path: str) -> list[dict[str, Any]]:
    items = body.get("items")
    if not isinstance(items, list):
        raise PortalProtocolError(f"{path} answered without an 'items' list")
    return items


def _parse_object(body: bytes, url: str) -> tuple[dict[str, Any], bool]:
    """The body's JSON object, exactly as ``json.loads`` reads it, and whether msgspec parsed
    it (then msgspec can also write its items back exactly as json would)."""
    try:
        try:
            # msgspec parses a page faster than json; where it refuses what json accepts (NaN,
            # lone surrogates, floats json writes in another form, other encodings than UTF-8),
            # json decides, so the result is json's.
            parsed, exact = _PAGE_DECODER.decode(body), True
        except (msgspec.DecodeError, msgspec.ValidationError, _FloatPrintsDifferently):
            parsed, exact = json.loads(body), False
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PortalProtocolError(f"GET {url} did not answer JSON: {_shorten(str(exc))}") from exc
    except RecursionError:
        raise PortalProtocolError(
            f"GET {url} answered JSON nested too deeply to read; the portal must correct it"
        ) from None
    if not isinstance(parsed, dict):
        raise PortalProtocolError(f"GET {url} answered a JSON {type(parsed).__name__}, not an object")
    return parsed, exact


def _retry_after(response: requests.Response, fallback: float) -> float:
    """Retry-After in seconds (at most MAX_RETRY_AFTER_SECONDS); ``fallback`` unless it is a
    finite number (an HTTP date, ``inf``, ``nan`` or text fall back)."""
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return fallback
    if not math.isfinite(seconds):
        return fallback
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def _served_at(response: requests.Response) -> datetime | None:
    """The portal's clock when it answered (its Date header), if it sent a valid one."""
    try:
        served = parsedate_to_datetime(response.headers.get("Date", ""))
    except (TypeError, ValueError, IndexError):
        return None
    return served if served.tzinfo else None


def _shorten(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    """``text`` on one line (line breaks and control characters as spaces), cut to ``limit``
    characters with the cut marked."""
    text = "".join(char if char.isprintable() else " " for char in text)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def _error_detail(response: requests.Response) -> str:
    """The error answer's ``error`` and ``detail``, read under MAX_ERROR_BODY_BYTES and
    shortened for a one-line message ('' when there is none)."""
    try:
        raw = response.raw.read(MAX_ERROR_BODY_BYTES + 1, decode_content=True)
    except (requests.RequestException, OSError, ValueError):
        return ""
    if len(raw) > MAX_ERROR_BODY_BYTES:
        start = _shorten(raw[:MAX_DETAIL_CHARS].decode("utf-8", "replace"), MAX_DETAIL_CHARS)
        return f": {start}… (an error body over {MAX_ERROR_BODY_BYTES:,} bytes; the rest not read)"
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return ""
    if isinstance(body, dict) and body.get("error"):
        text = str(body["error"]) + (f" ({body['detail']})" if body.get("detail") else "")
        return f": {_shorten(text)}"
    return ""


def _describe_network_error(exc: Exception) -> str:
    text = str(exc)
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if "Name or service not known" in text or "Errno -2" in text:
        return "host name not found"
    return f"connection dropped ({type(exc).__name__})"
