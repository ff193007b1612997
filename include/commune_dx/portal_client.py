"""HTTP client for the Commune Reporting API (``contract/openapi.yaml``).

Transient failures (5xx, 429, dropped connections, timeouts) are retried with exponential
backoff; 429 honours ``Retry-After``. Failures that retrying cannot fix (401, 400, a malformed
connection, an oversized response) raise at once with a message that says what to do.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import msgspec
import requests

TRANSIENT_STATUSES = {500, 502, 503, 504}
MAX_RETRY_AFTER_SECONDS = 120.0


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


@dataclass(frozen=True)
class PortalConfig:
    """Where the portal is and how to authenticate; built from the Airflow connection."""

    base_url: str
    token: str

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


class PortalClient:
    """A client for one portal; not shared between threads (one per unit pull or thread)."""

    def __init__(
        self,
        config: PortalConfig,
        retry: RetryPolicy | None = None,
        max_page_bytes: int = 32 * 1024 * 1024,
        max_submission_bytes: int = 256 * 1024,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.retry = retry or RetryPolicy()
        self.max_page_bytes = max_page_bytes
        self.max_submission_bytes = max_submission_bytes
        self._sleep = sleep
        self._session = requests.Session()
        self._session.headers.update(
            {"Authorization": f"Bearer {config.token}", "Accept": "application/json"}
        )
        # requests reads the environment (proxies, CA bundle, .netrc) again on every request,
        # walking all of os.environ (~0.5 ms a request in a task process). Read it once here.
        self._session.trust_env = False
        self._session.proxies.update(requests.utils.get_environ_proxies(config.base_url))
        ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if ca_bundle:
            self._session.verify = ca_bundle
        # Every request is a GET with the session's headers: prepared once, copied per request
        # with its URL (Session.get merges and prepares them again each time: 0.7 instead of
        # 0.5 ms of CPU a request, 3,400 requests a national night).
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

    def _get(self, path: str, params: dict[str, Any] | None) -> bytes:
        """GET ``path`` and return the body of its 200 answer, retrying transient failures."""
        url = f"{self.config.base_url}{path}"
        request_url = f"{self._base_url}{path}" + (f"?{urlencode(params)}" if params else "")
        last_problem = "no attempt made"
        for attempt in range(1, self.retry.max_attempts + 1):
            request = self._template.copy()
            request.url = request_url
            try:
                response = self._session.send(
                    request,
                    timeout=(self.retry.connect_timeout, self.retry.read_timeout),
                    stream=True,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                last_problem = _describe_network_error(exc)
                self._wait(attempt, self.retry.backoff(attempt))
                continue
            try:
                status = response.status_code
                if status == 200:
                    return self._read_bounded(response, url)
                if status == 429:
                    last_problem = "429 Too Many Requests"
                    self._wait(attempt, _retry_after(response, self.retry.backoff(attempt)))
                    continue
                if status in TRANSIENT_STATUSES:
                    last_problem = f"HTTP {status}"
                    self._wait(attempt, self.retry.backoff(attempt))
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
                self._wait(attempt, self.retry.backoff(attempt))
                continue
            finally:
                response.close()
        raise PortalUnreachable(
            f"GET {url} failed {self.retry.max_attempts} times, last: {last_problem}"
        )

    def _wait(self, attempt: int, seconds: float) -> None:
        if attempt < self.retry.max_attempts:
            self._sleep(seconds)

    def _read_bounded(self, response: requests.Response, url: str) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_page_bytes:
            raise PortalResponseTooLarge(
                f"GET {url} announced {int(declared):,} bytes, over the limit of "
                f"{self.max_page_bytes:,} (COMMUNE_MAX_PAGE_BYTES); ask for smaller pages"
            )
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(chunk_size=64 * 1024):
            size += len(chunk)
            if size > self.max_page_bytes:
                raise PortalResponseTooLarge(
                    f"GET {url} sent more than {self.max_page_bytes:,} bytes "
                    "(COMMUNE_MAX_PAGE_BYTES); refused without reading the rest"
                )
            chunks.append(chunk)
        return b"".join(chunks)

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
        self, unit_code: str, updated_since: datetime | None, limit: int = 500
    ) -> Iterator[Page]:
        """Yield the unit's submission versions page by page, oldest change first."""
        params: dict[str, Any] = {"unit": unit_code, "limit": limit}
        if updated_since is not None:
            params["updated_since"] = updated_since.isoformat()
        path = "/api/v1/submissions"
        while True:
            body, exact = _parse_object(self._get(path, params), f"{self.config.base_url}{path}")
            items = _items(body, path)
            records = _encode_records(items, exact, unit_code)
            for item, record in zip(items, records, strict=True):
                if len(record) > self.max_submission_bytes:
                    raise PortalResponseTooLarge(
                        f"submission {item.get('submission_id')!r} of unit {unit_code} is "
                        f"{len(record):,} bytes, over the limit of "
                        f"{self.max_submission_bytes:,} (COMMUNE_MAX_SUBMISSION_BYTES)"
                    )
            token = body.get("next_page_token")
            yield Page(items=items, records=records, next_page_token=token)
            if not token:
                return
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
        # msgspec parses a page in about half json's time (national pull: 0.6 s instead of
        # 1.1 s); where it refuses what json accepts (NaN, lone surrogates, floats json writes
        # in another form, other encodings than UTF-8), json decides, so the result is json's.
        parsed, exact = _PAGE_DECODER.decode(body), True
    except (msgspec.DecodeError, msgspec.ValidationError, _FloatPrintsDifferently):
        try:
            parsed, exact = json.loads(body), False
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PortalProtocolError(f"GET {url} did not answer JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise PortalProtocolError(f"GET {url} answered a JSON {type(parsed).__name__}, not an object")
    return parsed, exact


def _retry_after(response: requests.Response, fallback: float) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER_SECONDS)
    except ValueError:
        return fallback


def _error_detail(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict) and body.get("error"):
        detail = body.get("detail")
        return f": {body['error']}" + (f" ({detail})" if detail else "")
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
