"""The demo portal over real HTTP on loopback: auth, listing semantics, clock, faults, CLI."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from demo_portal.server import RunningPortal, start_demo_portal
from tests.conftest_portal import TOKEN, PortalSession, portal_fixture, reset

shared_portal = portal_fixture()


@pytest.fixture
def live_portal(shared_portal: RunningPortal) -> Iterator[RunningPortal]:
    """The module's portal, serving everything without faults when the test starts."""
    yield reset(shared_portal)
    reset(shared_portal)


@pytest.fixture
def session(live_portal: RunningPortal) -> Iterator[PortalSession]:
    client = PortalSession(live_portal)
    yield client
    client.close()


def _key(item: dict) -> tuple[str, int]:
    return item["submission_id"], item["version"]


def test_health_needs_no_token(live_portal: RunningPortal) -> None:
    response = requests.get(f"{live_portal.url}/api/v1/health", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("path", ["/api/v1/units", "/api/v1/tasks", "/api/v1/submissions", "/_demo/control"])
@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", "Bearer", f"bearer  {TOKEN}x"])
def test_wrong_or_missing_token_is_401(live_portal: RunningPortal, path: str, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = requests.get(f"{live_portal.url}{path}", headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert "Bearer" in response.headers["WWW-Authenticate"]


def test_units_and_tasks_are_the_dataset(live_portal: RunningPortal, session: PortalSession) -> None:
    units = session.get("/api/v1/units")
    assert units.status_code == 200
    assert units.json()["items"] == live_portal.dataset.units
    assert int(units.headers["Content-Length"]) == len(units.content)
    assert "Xã" in units.content.decode("utf-8")  # UTF-8 text, not \u escapes
    tasks = session.get("/api/v1/tasks").json()["items"]
    assert tasks == live_portal.dataset.tasks
    assert Counter(t["source"] for t in tasks)["central"] == 135


def test_pagination_serves_every_version_once_in_order(
    live_portal: RunningPortal, session: PortalSession
) -> None:
    items, pages = session.walk(limit=37)
    assert items == live_portal.dataset.submissions
    assert len(set(map(_key, items))) == len(items)
    assert pages == -(-len(items) // 37)
    keys = [(datetime.fromisoformat(i["updated_at"]), i["submission_id"], i["version"]) for i in items]
    assert keys == sorted(keys)


def test_default_and_maximum_limits(session: PortalSession) -> None:
    assert len(session.listing().json()["items"]) == 100
    assert len(session.listing(limit=500).json()["items"]) == 500


def test_unit_and_form_filters_partition_the_listing(
    live_portal: RunningPortal, session: PortalSession
) -> None:
    everything = Counter(map(_key, live_portal.dataset.submissions))
    by_unit: Counter = Counter()
    for unit in live_portal.dataset.units:
        items, _ = session.walk(unit=unit["unit_code"], limit=500)
        assert all(i["unit_code"] == unit["unit_code"] for i in items)
        by_unit.update(map(_key, items))
    assert by_unit == everything
    by_form: Counter = Counter()
    for form in ("task_report", "connectivity_report", "digital_skills_report", "public_service_report",
                 "capacity_report"):
        items, _ = session.walk(form=form, limit=200)
        assert all(i["form"] == form for i in items)
        by_form.update(map(_key, items))
    assert by_form == everything
    both, _ = session.walk(unit="A25-SKHCN", form="task_report", limit=1)
    assert both and all(i["unit_code"] == "A25-SKHCN" and i["form"] == "task_report" for i in both)


def test_updated_since_is_exclusive(live_portal: RunningPortal, session: PortalSession) -> None:
    stamps = Counter(i["updated_at"] for i in live_portal.dataset.submissions)
    tied, ties = stamps.most_common(1)[0]
    assert ties > 1, "the demo data has versions published at the same second"
    moment = datetime.fromisoformat(tied)
    expected = [
        i for i in live_portal.dataset.submissions if datetime.fromisoformat(i["updated_at"]) > moment
    ]
    for spelling in (
        tied,
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        tied[:19] + ".000+07:00",
    ):
        items, _ = session.walk(updated_since=spelling, limit=50)
        assert items == expected, spelling


def test_page_token_survives_a_clock_change(live_portal: RunningPortal, session: PortalSession) -> None:
    snapshot_at = "2025-09-05T12:00:00+07:00"
    live_portal.set_clock(snapshot_at)
    expected, _ = session.walk(limit=40)
    first = session.listing(limit=40).json()
    live_portal.set_clock(None)  # meanwhile the portal publishes everything up to 21 September
    rest, _ = session.walk(limit=40, page_token=first["next_page_token"])
    assert first["items"] + rest == expected
    # Asking again from the last version loaded picks up what was published meanwhile.
    newer, _ = session.walk(updated_since=expected[-1]["updated_at"], limit=40)
    assert expected + newer == live_portal.dataset.submissions


def test_page_token_keeps_its_filters(live_portal: RunningPortal, session: PortalSession) -> None:
    first = session.listing(unit="04792", limit=2).json()
    token = first["next_page_token"]
    same = session.listing(page_token=token, limit=2).json()
    repeated = session.listing(unit="04792", page_token=token, limit=2).json()
    assert same == repeated
    assert all(i["unit_code"] == "04792" for i in same["items"])
    assert session.listing(unit="04795", page_token=token).status_code == 400


def test_clock_hides_later_versions(live_portal: RunningPortal, session: PortalSession) -> None:
    now = "2025-08-31T23:59:59+07:00"
    response = session.control(now=now)
    assert response.status_code == 200
    assert response.json()["now"] == now
    items, _ = session.walk(limit=500)
    cutoff = datetime.fromisoformat(now)
    assert items == [
        i for i in live_portal.dataset.submissions if datetime.fromisoformat(i["updated_at"]) <= cutoff
    ]
    assert session.control(now=None).json()["now"] is None
    assert len(session.walk(limit=500)[0]) == len(live_portal.dataset.submissions)


@pytest.mark.parametrize(
    "params",
    [
        {"unit": "99999"},
        {"unit": ""},
        {"form": "budget_report"},
        {"updated_since": "yesterday"},
        {"updated_since": "2025-09-01"},
        {"updated_since": "2025-09-01 00:00:00+07:00"},
        {"updated_since": "2025-13-01T00:00:00Z"},
        {"updated_since": "2025-09-01T00:00:00"},
        {"limit": "0"},
        {"limit": "501"},
        {"limit": "ten"},
        {"limit": "1.5"},
        {"limit": "-1"},
        {"page_token": "not-a-token"},
        {"page_token": "eyJ2IjoxfQ"},  # base64 of {"v":1}: well-formed, not ours
        {"unit": ["04792", "04795"]},
    ],
)
def test_bad_parameters_are_400(session: PortalSession, params: dict) -> None:
    response = session.listing(**params)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "bad_request" and body["detail"]


def test_unknown_path_and_method(live_portal: RunningPortal, session: PortalSession) -> None:
    assert session.get("/api/v1/nothing").status_code == 404
    response = session.session.delete(f"{live_portal.url}/api/v1/units", timeout=5)
    assert response.status_code == 405 and response.headers["Allow"] == "GET"
    # The keep-alive connection is still usable afterwards.
    assert session.get("/api/v1/health").status_code == 200


def test_faults_switch_on_and_off(live_portal: RunningPortal, session: PortalSession) -> None:
    live_portal.set_faults(fail_503=1.0)
    assert session.listing().status_code == 503
    assert session.get("/api/v1/units").status_code == 200, "faults apply to listings only"
    live_portal.set_faults(fail_503=0.0, fail_429=1.0, retry_after_s=0)
    limited = session.listing()
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "0"
    live_portal.set_faults(fail_429=0.0, fail_drop=1.0)
    with pytest.raises(requests.ConnectionError):
        session.listing()
    live_portal.clear_faults()
    assert session.listing().status_code == 200


def test_down_units_and_latency(live_portal: RunningPortal, session: PortalSession) -> None:
    response = session.control(down_units=["04792"], latency_ms=150)
    assert response.json()["faults"]["down_units"] == ["04792"]
    started = time.perf_counter()
    assert session.listing(unit="04792").status_code == 503
    assert time.perf_counter() - started >= 0.15
    assert session.listing(unit="04795").status_code == 200
    assert session.control(down_units=[], latency_ms=0).status_code == 200
    assert session.listing(unit="04792").status_code == 200


def test_faults_are_reproducible(live_portal: RunningPortal, session: PortalSession) -> None:
    def statuses() -> list[int]:
        return [session.listing(limit=1).status_code for _ in range(40)]

    live_portal.set_faults(fail_503=0.3, fail_429=0.3, retry_after_s=0, fault_seed=7)
    first = statuses()
    live_portal.set_faults(fault_seed=7)
    assert statuses() == first
    assert set(first) == {200, 429, 503}


@pytest.mark.parametrize(
    "body",
    [
        {"now": "tomorrow"},
        {"fail_503": 2},
        {"fail_503": 0.6, "fail_429": 0.6},
        {"latency_ms": "slow"},
        {"down_units": ["nowhere"]},
        {"colour": "red"},
        ["not", "an", "object"],
    ],
)
def test_control_rejects_bad_settings(
    live_portal: RunningPortal, session: PortalSession, body: object
) -> None:
    before = session.get("/_demo/control").json()
    response = session.session.post(f"{live_portal.url}/_demo/control", json=body, timeout=5)
    assert response.status_code == 400
    assert session.get("/_demo/control").json() == before


def test_keep_alive_is_fast(session: PortalSession) -> None:
    started = time.perf_counter()
    for _ in range(50):
        assert session.get("/api/v1/health").status_code == 200
    assert time.perf_counter() - started < 1.0


def test_two_portals_serve_identical_bytes() -> None:
    bodies = []
    for _ in range(2):
        with start_demo_portal(token=TOKEN) as portal:
            client = PortalSession(portal)
            bodies.append(
                [
                    client.listing(limit=500, updated_since=t).content
                    for t in ("2025-01-01T00:00:00Z", "2025-09-01T00:00:00+07:00")
                ]
            )
            client.close()
    assert bodies[0] == bodies[1]


def test_stopped_portal_stops_answering() -> None:
    portal = start_demo_portal(token=TOKEN)
    client = PortalSession(portal)
    assert client.get("/api/v1/health").status_code == 200
    portal.stop()
    portal.stop()
    with pytest.raises(requests.ConnectionError):
        client.get("/api/v1/health")


def test_command_line_serves_until_sigterm() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "demo_portal",
            "--port",
            "0",
            "--token",
            TOKEN,
            "--now",
            "2025-09-01T00:00:00+07:00",
            "--fail-503",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("demo portal listening on http://127.0.0.1:")
        url = line.removeprefix("demo portal listening on ")
        assert requests.get(f"{url}/api/v1/health", timeout=5).json() == {"status": "ok"}
        state = requests.get(f"{url}/_demo/control", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        assert state.json()["now"] == "2025-09-01T00:00:00+07:00"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_demo_portal_is_a_package_of_its_own() -> None:
    """The demo portal stands in for the provincial portal: it must not lean on the pipeline's
    code (nor on the bench's), or a pipeline bug could hide behind a matching portal bug."""
    import ast

    import demo_portal

    package_dir = Path(demo_portal.__file__).resolve().parent
    borrowed = []
    for path in sorted(package_dir.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            borrowed += [f"{path.name}: {n}" for n in names if n.split(".")[0] in {"commune_dx", "bench"}]
    assert len(list(package_dir.glob("*.py"))) >= 10
    assert borrowed == []
