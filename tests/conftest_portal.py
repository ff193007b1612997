"""Helpers for tests that talk to a real demo portal on loopback (a plain module: import it).

from tests.conftest_portal import PortalSession, portal_fixture

demo_portal = portal_fixture()  # a module-scoped fixture named after the variable

def test_something(demo_portal):
    session = PortalSession(demo_portal)
    assert session.get("/api/v1/units").status_code == 200
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from demo_portal.server import RunningPortal, start_demo_portal

TOKEN = "portal-test-token"


def portal_fixture(scope: str = "module", **options: Any) -> Callable[..., Iterator[RunningPortal]]:
    """A pytest fixture serving a fresh demo portal (``options`` go to ``start_demo_portal``).

    Assign the result to a module-level name; that name is the fixture's. Tests that change
    the clock or the faults call ``reset(portal)`` (or use a function-scoped fixture that does).
    """

    @pytest.fixture(scope=scope)  # type: ignore[call-overload]
    def fixture() -> Iterator[RunningPortal]:
        with start_demo_portal(token=TOKEN, **options) as portal:
            yield portal

    return fixture


def reset(portal: RunningPortal) -> RunningPortal:
    """Back to serving everything, without faults."""
    portal.set_clock(None)
    portal.clear_faults()
    return portal


class PortalSession:
    """A keep-alive ``requests`` session that talks to one portal with its token."""

    def __init__(self, portal: RunningPortal, token: str | None = None) -> None:
        self.portal = portal
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token or portal.token}"

    def get(self, path: str, **params: Any) -> requests.Response:
        """GET a path of the portal with query parameters."""
        return self.session.get(f"{self.portal.url}{path}", params=params, timeout=10)

    def listing(self, **params: Any) -> requests.Response:
        """One ``/api/v1/submissions`` request."""
        return self.get("/api/v1/submissions", **params)

    def walk(self, **params: Any) -> tuple[list[dict[str, Any]], int]:
        """Every item of a listing, following page tokens; (items, number of pages)."""
        items: list[dict[str, Any]] = []
        pages = 0
        while True:
            response = self.listing(**params)
            assert response.status_code == 200, response.text
            body = response.json()
            items += body["items"]
            pages += 1
            if body["next_page_token"] is None:
                return items, pages
            params = {**params, "page_token": body["next_page_token"]}

    def control(self, **changes: Any) -> requests.Response:
        """POST the demo control endpoint."""
        return self.session.post(f"{self.portal.url}/_demo/control", json=changes, timeout=10)

    def close(self) -> None:
        self.session.close()
