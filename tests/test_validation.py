"""Every validation rule of MARTS.md, each with an invalid case and its valid twin, through the
real checks (plain Python + the Great Expectations suites in expectations/)."""

from __future__ import annotations

import copy

import pytest

from commune_dx.settings import FORMS
from commune_dx.validation import Reference, VersionToCheck, nfc, validate_versions

UNITS = {
    "25001": {"unit_code": "25001", "unit_type": "xa", "active_from": "2025-07-01", "active_to": None},
    "25002": {"unit_code": "25002", "unit_type": "xa", "active_from": "2025-07-01",
              "active_to": "2025-07-31"},
    # active on one day of 2025-Q3 only: the quarter counts, the next does not
    "25003": {"unit_code": "25003", "unit_type": "phuong", "active_from": "2025-09-30",
              "active_to": "2025-09-30"},
    "A25-SKHCN": {"unit_code": "A25-SKHCN", "unit_type": "agency", "active_from": "2025-07-01",
                  "active_to": None},
}
TASKS = {
    "TW-1": {"task_code": "TW-1", "assigned_unit_code": "A25-SKHCN"},
    "TW-2": {"task_code": "TW-2", "assigned_unit_code": "A25-SKHCN"},
    "TW-9": {"task_code": "TW-9", "assigned_unit_code": "A25-VPUB"},
}
REF = Reference(units=UNITS, tasks=TASKS)


def envelope(form: str, period: str, payload: dict, **over) -> dict:
    item = {
        "submission_id": "S1", "unit_code": "25001", "form": form, "form_version": 1,
        "period": period, "version": 1, "status": "submitted",
        "submitted_at": "2025-09-03T09:00:00+07:00", "updated_at": "2025-09-03T09:00:00+07:00",
        "payload": payload,
    }
    item.update(over)
    return item


CONNECTIVITY = {"villages_total": 10, "villages_no_signal": 1, "villages_weak_signal": 2,
                "households_total": 1000, "households_fiber": 600, "office_computers_total": 20,
                "office_computers_outdated": 5, "office_bandwidth_mbps": 100.0,
                "internet_outage_hours": 3.5}
SKILLS = {"sessions_held": 2, "participants_officials": 10, "participants_citizens": 30,
          "participants_students": 5, "people_completed_basic": 20, "vneid_activations": 7}
SERVICES = {"dossiers_received": 100, "dossiers_online": 80, "dossiers_full_online": 50,
            "dossiers_processed": 90, "dossiers_processed_on_time": 85}
CAPACITY = {"officials_total": 20, "dx_specialists": 1, "officials_trained_dx": 12,
            "steering_committee": True, "information_systems": 2, "systems_security_approved": 1,
            "security_assessments": 1, "vulnerabilities_found": 3, "vulnerabilities_open": 4,
            "devices_received": 5}
NO_SYSTEMS = {**CAPACITY, "information_systems": 0, "systems_security_approved": 0}
AFTER_Q4 = {"submitted_at": "2026-01-05T09:00:00+07:00", "updated_at": "2026-01-05T09:00:00+07:00"}
# 2025-07-01 00:00 local is 2025-06-30 17:00 UTC: the first instant of 2025-Q3 in Viet Nam
Q3_FIRST_INSTANT = {"submitted_at": "2025-06-30T17:00:00Z", "updated_at": "2025-06-30T17:00:00Z"}
Q3_NOT_BEGUN = {"submitted_at": "2025-06-30T16:59:59Z", "updated_at": "2025-06-30T16:59:59Z"}
TASK_PAYLOAD = {"tasks": [
    {"task_code": "TW-1", "status": "completed", "progress_pct": 100, "completed_on": "2025-08-20"},
    {"task_code": "TW-2", "status": "in_progress", "progress_pct": 40, "completed_on": None,
     "note": "<script>alert(1)</script>'; DROP TABLE x; --"},
]}


def task_report(period: str = "2025-08-31", **over) -> dict:
    return envelope("task_report", period, copy.deepcopy(TASK_PAYLOAD), unit_code="A25-SKHCN",
                    **over)


def changed(payload: dict, **fields) -> dict:
    return {**payload, **fields}


def task_changed(index: int, **fields) -> dict:
    payload = copy.deepcopy(TASK_PAYLOAD)
    payload["tasks"][index].update(fields)
    return payload


# (case id, item, expected fragment of a reason; None = the item is valid)
CASES = [
    ("valid connectivity", envelope("connectivity_report", "2025-08", CONNECTIVITY), None),
    ("valid skills", envelope("digital_skills_report", "2025-08", SKILLS), None),
    ("valid services", envelope("public_service_report", "2025-08", SERVICES), None),
    ("valid task report", task_report(), None),
    ("valid capacity", envelope("capacity_report", "2025-Q3", CAPACITY), None),
    ("withdrawn is never invalid",
     envelope("connectivity_report", "2025-08", {"junk": True}, status="withdrawn"), None),
    ("missing field", envelope("connectivity_report", "2025-08",
     {k: v for k, v in CONNECTIVITY.items() if k != "households_fiber"}),
     "'households_fiber' is a required property"),
    ("extra field", envelope("connectivity_report", "2025-08", changed(CONNECTIVITY, wifi=1)),
     "Additional properties are not allowed"),
    ("wrong type", envelope("connectivity_report", "2025-08",
     changed(CONNECTIVITY, villages_total="10")), "'10' is not of type 'integer'"),
    ("below minimum", envelope("connectivity_report", "2025-08",
     changed(CONNECTIVITY, villages_no_signal=-1)), "villages_no_signal must be at least 0"),
    ("above maximum", envelope("connectivity_report", "2025-08",
     changed(CONNECTIVITY, internet_outage_hours=745)), "internet_outage_hours must be between 0 and 744"),
    ("x-rule dead zones", envelope("connectivity_report", "2025-08",
     changed(CONNECTIVITY, villages_no_signal=6, villages_weak_signal=5)),
     "villages_no_signal + villages_weak_signal must not exceed villages_total"),
    ("x-rule fibre", envelope("connectivity_report", "2025-08",
     changed(CONNECTIVITY, households_fiber=1001)), "households_fiber must not exceed households_total"),
    ("x-rule computers", envelope("connectivity_report", "2025-08",
     changed(CONNECTIVITY, office_computers_outdated=21)),
     "office_computers_outdated must not exceed office_computers_total"),
    ("x-rule completed basic", envelope("digital_skills_report", "2025-08",
     changed(SKILLS, people_completed_basic=46)),
     "people_completed_basic must not exceed participants_officials"),
    ("x-rule sessions zero", envelope("digital_skills_report", "2025-08",
     changed(SKILLS, sessions_held=0)), "sessions_held = 0 but participants reported"),
    ("x-rule full online", envelope("public_service_report", "2025-08",
     changed(SERVICES, dossiers_full_online=81)), "dossiers_full_online must not exceed dossiers_online"),
    ("x-rule online", envelope("public_service_report", "2025-08",
     changed(SERVICES, dossiers_online=101, dossiers_full_online=10)),
     "dossiers_online must not exceed dossiers_received"),
    ("x-rule on time", envelope("public_service_report", "2025-08",
     changed(SERVICES, dossiers_processed_on_time=91)),
     "dossiers_processed_on_time must not exceed dossiers_processed"),
    ("unknown form_version", envelope("connectivity_report", "2025-08", CONNECTIVITY, form_version=2),
     "form_version 2 is not a version this pipeline knows"),
    ("unknown unit", envelope("connectivity_report", "2025-08", CONNECTIVITY, unit_code="99999"),
     "unit_code '99999' is not a unit listed"),
    ("inactive unit", envelope("connectivity_report", "2025-08", CONNECTIVITY, unit_code="25002"),
     "was not active during period 2025-08"),
    ("active part of the month", envelope("connectivity_report", "2025-07", CONNECTIVITY,
     unit_code="25002"), None),
    ("malformed period", envelope("connectivity_report", "2025-8", CONNECTIVITY),
     "is not a month YYYY-MM"),
    ("period after submission", envelope("connectivity_report", "2025-10", CONNECTIVITY),
     "lies after the submission date"),
    ("period the month of submission", envelope("connectivity_report", "2025-09", CONNECTIVITY), None),
    ("task period malformed", task_report(period="2025-08"), "is not a date YYYY-MM-DD"),
    ("task period after submission", task_report(period="2025-09-04"), "lies after the submission date"),
    ("task unknown", envelope("task_report", "2025-08-31", task_changed(1, task_code="TW-404"),
     unit_code="A25-SKHCN"), "task_code is not in the task catalogue"),
    ("task of another unit", envelope("task_report", "2025-08-31", task_changed(1, task_code="TW-9"),
     unit_code="A25-SKHCN"), "task is assigned to A25-VPUB, not to A25-SKHCN"),
    ("task twice", envelope("task_report", "2025-08-31", task_changed(1, task_code="TW-1"),
     unit_code="A25-SKHCN"), "task listed twice"),
    ("completed without date", envelope("task_report", "2025-08-31",
     task_changed(0, completed_on=None), unit_code="A25-SKHCN"), "completed_on is missing"),
    ("date while not completed", envelope("task_report", "2025-08-31",
     task_changed(1, completed_on="2025-08-01"), unit_code="A25-SKHCN"), "completed_on is set"),
    ("completed after period", envelope("task_report", "2025-08-31",
     task_changed(0, completed_on="2025-09-01"), unit_code="A25-SKHCN"), "is after the report's period"),
    ("bad task status", envelope("task_report", "2025-08-31", task_changed(1, status="done"),
     unit_code="A25-SKHCN"), "task status must be not_started, in_progress or completed"),
    ("progress over 100", envelope("task_report", "2025-08-31", task_changed(1, progress_pct=101),
     unit_code="A25-SKHCN"), "progress_pct must be between 0 and 100"),
    ("empty task list", envelope("task_report", "2025-08-31", {"tasks": []}, unit_code="A25-SKHCN"),
     "should be non-empty"),
    # capacity_report: each invalid case next to its valid twin
    ("capacity missing field", envelope("capacity_report", "2025-Q3",
     {k: v for k, v in CAPACITY.items() if k != "devices_received"}),
     "'devices_received' is a required property"),
    ("capacity committee not a boolean", envelope("capacity_report", "2025-Q3",
     changed(CAPACITY, steering_committee=1)), "1 is not of type 'boolean'"),
    ("capacity officials below 1", envelope("capacity_report", "2025-Q3",
     changed(CAPACITY, officials_total=0, dx_specialists=0, officials_trained_dx=0)),
     "officials_total must be at least 1"),
    ("capacity officials 1", envelope("capacity_report", "2025-Q3",
     changed(CAPACITY, officials_total=1, dx_specialists=0, officials_trained_dx=0)), None),
    ("x-rule specialists", envelope("capacity_report", "2025-Q3",
     changed(CAPACITY, dx_specialists=21)), "dx_specialists must not exceed officials_total"),
    ("x-rule specialists equal", envelope("capacity_report", "2025-Q3",
     changed(CAPACITY, dx_specialists=20)), None),
    ("x-rule trained", envelope("capacity_report", "2025-Q3",
     changed(CAPACITY, officials_trained_dx=21)), "officials_trained_dx must not exceed officials_total"),
    ("x-rule trained equal", envelope("capacity_report", "2025-Q3",
     changed(CAPACITY, officials_trained_dx=20)), None),
    ("x-rule security approved", envelope("capacity_report", "2025-Q3",
     changed(CAPACITY, systems_security_approved=3)),
     "systems_security_approved must not exceed information_systems"),
    ("x-rule security approved equal", envelope("capacity_report", "2025-Q3",
     changed(CAPACITY, systems_security_approved=2)), None),
    ("x-rule assessments without systems", envelope("capacity_report", "2025-Q3",
     changed(NO_SYSTEMS, security_assessments=1)), "information_systems = 0 but security_assessments"),
    ("no systems no assessments", envelope("capacity_report", "2025-Q3",
     changed(NO_SYSTEMS, security_assessments=0)), None),
    ("capacity period a month", envelope("capacity_report", "2025-09", CAPACITY),
     "is not a quarter YYYY-Qn"),
    ("capacity period Q5", envelope("capacity_report", "2025-Q5", CAPACITY), "is not a quarter YYYY-Qn"),
    ("capacity period lower-case q", envelope("capacity_report", "2025-q3", CAPACITY),
     "is not a quarter YYYY-Qn"),
    ("capacity quarter not begun", envelope("capacity_report", "2025-Q4", CAPACITY),
     "lies after the submission date"),
    ("capacity quarter not begun, local time", envelope("capacity_report", "2025-Q3", CAPACITY,
     **Q3_NOT_BEGUN), "lies after the submission date"),
    ("capacity quarter's first local instant", envelope("capacity_report", "2025-Q3", CAPACITY,
     **Q3_FIRST_INSTANT), None),
    ("capacity unit inactive all quarter", envelope("capacity_report", "2025-Q4", CAPACITY,
     unit_code="25003", **AFTER_Q4), "was not active during period 2025-Q4"),
    ("capacity unit active all quarter", envelope("capacity_report", "2025-Q4", CAPACITY,
     unit_code="25001", **AFTER_Q4), None),
    ("capacity unit active one day", envelope("capacity_report", "2025-Q3", CAPACITY,
     unit_code="25003"), None),
    ("capacity unknown unit", envelope("capacity_report", "2025-Q3", CAPACITY, unit_code="99999"),
     "unit_code '99999' is not a unit listed"),
    ("note too long", envelope("task_report", "2025-08-31", task_changed(1, note="x" * 2001),
     unit_code="A25-SKHCN"), "is too long"),
    # The envelope as openapi.yaml's Submission has it (issue 16).
    ("payload not an object", envelope("connectivity_report", "2025-08", [1, 2, 3]),
     "payload is a JSON array, not an object"),
    ("task payload not an object", envelope("task_report", "2025-08-31", "tasks", unit_code="A25-SKHCN"),
     "payload is a JSON string, not an object"),
    ("form_version 1.0", envelope("connectivity_report", "2025-08", CONNECTIVITY, form_version=1.0),
     "form_version 1.0 is not a version this pipeline knows"),
    ("form_version true", envelope("connectivity_report", "2025-08", CONNECTIVITY, form_version=True),
     "form_version True is not a version this pipeline knows"),
    ("version not an integer", envelope("connectivity_report", "2025-08", CONNECTIVITY, version=1.5),
     "version 1.5 is not an integer of at least 1"),
    ("unit_code not a string", envelope("connectivity_report", "2025-08", CONNECTIVITY, unit_code=25001),
     "unit_code is a JSON integer, not a string"),
    ("submitted_at with a space", envelope("connectivity_report", "2025-08", CONNECTIVITY,
     submitted_at="2025-09-03 09:00:00+07:00"),
     "submitted_at '2025-09-03 09:00:00+07:00' is not an RFC 3339 date-time with an offset"),
    ("submitted_at without seconds", envelope("connectivity_report", "2025-08", CONNECTIVITY,
     submitted_at="2025-09-03T09:00+07:00"), "submitted_at '2025-09-03T09:00+07:00' is not an RFC 3339"),
    ("updated_at without offset", envelope("connectivity_report", "2025-08", CONNECTIVITY,
     updated_at="2025-09-03T09:00:00"), "updated_at '2025-09-03T09:00:00' is not an RFC 3339"),
    ("updated_at month 13", envelope("connectivity_report", "2025-08", CONNECTIVITY,
     updated_at="2025-13-03T09:00:00+07:00"), "updated_at '2025-13-03T09:00:00+07:00' is not an RFC 3339"),
    ("times in lower case and Z", envelope("connectivity_report", "2025-08", CONNECTIVITY,
     submitted_at="2025-09-03t02:00:00z", updated_at="2025-09-03T02:00:00.123456789Z"), None),
]


@pytest.fixture(scope="module")
def docs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("gx_docs")


@pytest.fixture(scope="module")
def outcomes(docs_dir):
    versions = [VersionToCheck(key=case_id, item=nfc(item)) for case_id, item, _ in CASES]
    return {o.key: o for o in validate_versions(versions, REF, docs_dir, run_name="night-1")}


def test_data_docs_show_each_forms_results(outcomes, docs_dir):
    pages = sorted(docs_dir.glob("validations/*/night-1/*/*.html"))
    suites = {page.relative_to(docs_dir).parts[1] for page in pages}
    assert suites == {"connectivity_report", "digital_skills_report", "public_service_report",
                      "task_report_entries", "capacity_report"}
    index = (docs_dir / "index.html").read_text(encoding="utf-8")
    assert all(str(page.relative_to(docs_dir)) in index for page in pages)
    connectivity = next(p for p in pages if "connectivity_report" in p.parts).read_text(encoding="utf-8")
    assert "villages_dead_zone" in connectivity  # the cross-field rule GX checks, with its failures


@pytest.mark.parametrize("case_id,expected", [(c[0], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_rule(outcomes, case_id, expected):
    outcome = outcomes[case_id]
    if expected is None:
        assert outcome.is_valid, outcome.reasons
        assert outcome.reasons == []
    else:
        assert not outcome.is_valid
        assert any(expected in reason for reason in outcome.reasons), outcome.reasons


def test_every_reason_is_reported_once(outcomes):
    for outcome in outcomes.values():
        assert len(outcome.reasons) == len(set(outcome.reasons)), outcome.reasons


def test_several_failures_are_all_listed():
    item = envelope("connectivity_report", "2025-10", changed(CONNECTIVITY, households_fiber=2000),
                    form_version=3)
    [outcome] = validate_versions([VersionToCheck("k", item)], REF)
    joined = " | ".join(outcome.reasons)
    assert "form_version 3" in joined
    assert "lies after the submission date" in joined
    assert "households_fiber must not exceed households_total" in joined


def test_nfc_normalises_nested_text():
    decomposed = "Ho\u0300a Bi\u0300nh"  # "Hòa Bình" with combining grave accents (NFD)
    assert nfc({"a": [decomposed]}) == {"a": ["Hòa Bình"]}
    assert nfc("Hoà") != nfc("Hòa")  # old vs new tone placement: NFC keeps them distinct


def _tricky_payloads():
    yield "task_report", task_changed(0, completed_on="2025-02-30")  # not a calendar date
    yield "task_report", task_changed(1, progress_pct=True)  # a boolean is not a number
    yield "connectivity_report", changed(CONNECTIVITY, villages_total=10.0)  # 10.0 is an integer
    yield "connectivity_report", changed(CONNECTIVITY, villages_total=10.5)
    yield "digital_skills_report", changed(SKILLS, sessions_held=None)
    yield "capacity_report", changed(CAPACITY, steering_committee=0)  # 0 is not a boolean
    yield "capacity_report", changed(CAPACITY, officials_total=True)  # a boolean is not an integer


def test_fast_schema_check_never_passes_what_jsonschema_rejects():
    from commune_dx.validation import fast_form_check, form_validator
    from demo_portal import build_demo_dataset

    payloads = [(s["form"], s["payload"]) for s in build_demo_dataset().submissions]
    payloads += [(item["form"], item["payload"]) for _, item, _ in CASES
                 if item["form"] in FORMS and isinstance(item["payload"], dict)]
    payloads += list(_tricky_payloads())
    rejected = 0
    for form, payload in payloads:
        reference_ok = not list(form_validator(form).iter_errors(payload))
        try:
            fast_form_check(form)(payload)
            fast_ok = True
        except Exception:
            fast_ok = False
            rejected += 1
        assert reference_ok or not fast_ok, (form, payload)
    assert rejected >= 5


def test_a_version_that_is_no_object_or_too_deep_is_invalid_not_an_error():
    deep: list = []
    for _ in range(5_000):  # deeper than Python's recursion limit
        deep = [deep]
    versions = [
        VersionToCheck(key="list", item=[1, 2]),
        VersionToCheck(key="unreadable", item={}, unreadable="the record is nested too deeply to read"),
        VersionToCheck(key="deep", item=envelope("connectivity_report", "2025-08",
                                                 changed(CONNECTIVITY, villages_total=deep))),
    ]
    reasons = {o.key: o.reasons for o in validate_versions(versions, REF) if not o.is_valid}
    assert reasons["list"] == ["the version is a JSON array, not an object"]
    assert reasons["unreadable"] == ["the record is nested too deeply to read"]
    assert reasons["deep"] == ["the version is nested too deeply to check (a hostile or broken record)"]


def test_validating_in_chunks_gives_the_verdicts_of_one_chunk(outcomes, tmp_path):
    """The validate step checks a night's versions a chunk at a time: the same verdicts and
    reasons, in the same order, as one chunk of everything, and the Data Docs show every chunk."""
    versions = [VersionToCheck(key=case_id, item=nfc(item)) for case_id, item, _ in CASES]
    chunked = validate_versions(versions, REF, tmp_path, run_name="chunked", chunk_size=3)
    assert [o.key for o in chunked] == [v.key for v in versions]
    assert {o.key: (o.is_valid, o.reasons) for o in chunked} == {
        key: (o.is_valid, o.reasons) for key, o in outcomes.items()
    }
    gx_failed = [o for o in chunked if any("must not exceed" in r for r in o.reasons)]
    assert gx_failed and any(o.is_valid for o in chunked)
    runs = {page.parent for page in tmp_path.glob("validations/*/chunked/*/*.html")}
    assert len(runs) > 5  # five suites, some of them run over several chunks
