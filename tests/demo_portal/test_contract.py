"""The demo portal honours ``contract/openapi.yaml``: schemathesis against the real server.

Schemathesis generates requests for every operation (valid ones and deliberately broken
ones) and checks status codes, content types, headers and response bodies against the
document, that auth is enforced and that broken requests are refused. Fault injection is off.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from jsonschema import Draft202012Validator
from schemathesis import Case
from schemathesis.core.parameters import ParameterLocation
from schemathesis.hooks import HookContext

from demo_portal.demo_data import build_demo_dataset
from demo_portal.server import RunningPortal
from tests.conftest_portal import TOKEN, PortalSession, portal_fixture, reset

OPENAPI = Path(__file__).resolve().parents[2] / "include" / "commune_dx" / "contract" / "openapi.yaml"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
UNIT_CODES = sorted(unit["unit_code"] for unit in build_demo_dataset().units)

schema = schemathesis.openapi.from_path(OPENAPI)
contract_portal = portal_fixture()


@schema.hook
def map_case(context: HookContext, case: Case) -> Case:
    """Make schema-valid listing requests ones a real client could send.

    The document allows any string as ``unit`` and ``page_token``, but only existing units
    and tokens the portal issued can succeed (others are a documented 400). Valid cases get a
    real unit and no made-up token; invalid cases are left as generated.
    """
    if case.meta is None or not case.meta.generation.mode.is_positive or not case.query:
        return case
    query = dict(case.query)
    unit = query.get("unit")
    if unit is not None and unit not in UNIT_CODES:
        drawn = zlib.crc32(str(unit).encode("utf-8", "surrogatepass"))
        query["unit"] = UNIT_CODES[drawn % len(UNIT_CODES)]
    query.pop("page_token", None)
    case.query = query
    return case


@pytest.fixture
def live_portal(contract_portal: RunningPortal) -> Iterator[RunningPortal]:
    """The module's portal with no clock and no faults."""
    yield reset(contract_portal)


@schema.parametrize()
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_portal_conforms_to_the_contract(case: Case, live_portal: RunningPortal) -> None:
    # A case made invalid in its headers (e.g. no Authorization) is sent as generated: adding
    # the token would turn it into a valid request and the portal's 200 into a false failure.
    bad_headers = case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
    case.call_and_validate(base_url=live_portal.url, headers=None if bad_headers else AUTH)


def _component_validator(document: dict[str, Any], name: str) -> Draft202012Validator:
    """A validator for one of the document's component schemas, references resolved."""
    wrapper = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return Draft202012Validator(wrapper, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_every_served_record_matches_its_component_schema(live_portal: RunningPortal) -> None:
    document = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    session = PortalSession(live_portal)
    try:
        items, _ = session.walk(limit=500)
        units = session.get("/api/v1/units").json()["items"]
        tasks = session.get("/api/v1/tasks").json()["items"]
    finally:
        session.close()
    for name, records in (("Submission", items), ("Unit", units), ("Task", tasks)):
        validator = _component_validator(document, name)
        problems = [(r, e.message) for r in records for e in validator.iter_errors(r)]
        assert not problems, problems[:3]
