"""Validation of submission versions: which are invalid, and every reason why.

Two layers, each rule implemented once (see MARTS.md, "Which submissions count"):

* plain Python: the JSON Schema structure of the payload (types, required fields, no extra
  fields), the envelope (known form and ``form_version``, well-formed ``period`` not after the
  submission date), references (unit known and active in the period; task ownership) and the
  task-report rules on ``completed_on``;
* Great Expectations suites (``expectations/*.json``): ranges, enums and the forms' ``x-rules``,
  run on pandas DataFrames of the night's structurally sound versions, one row per version
  (one per task entry for task reports).

Withdrawn versions are not validated: a withdrawn version is never invalid.
"""

from __future__ import annotations

import calendar
import json
import logging
import os
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from itertools import islice
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import fastjsonschema
from jsonschema import Draft202012Validator, FormatChecker

from commune_dx.settings import (
    EXPECTATIONS_DIR,
    FORMS,
    FORMS_DIR,
    KNOWN_FORM_VERSIONS,
    LOCAL_TZ,
    QUARTERLY_FORMS,
)
from commune_dx.timestamps import parse_rfc3339

log = logging.getLogger(__name__)

LOCAL = ZoneInfo(LOCAL_TZ)
MONTH_PATTERN = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
QUARTER_PATTERN = re.compile(r"^[0-9]{4}-Q[1-4]$")
# JSON Schema keywords whose checks the Great Expectations suites own for sound payloads.
GX_OWNED_KEYWORDS = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum"}
ENVELOPE_FIELDS = ("submission_id", "unit_code", "form", "form_version", "period", "version",
                   "status", "submitted_at", "updated_at", "payload")
GX_SUITES = {
    "connectivity_report": "connectivity_report",
    "digital_skills_report": "digital_skills_report",
    "public_service_report": "public_service_report",
    "task_report": "task_report_entries",
    "capacity_report": "capacity_report",
}


def nfc(value: Any) -> Any:
    """Return ``value`` with every string inside it normalised to Unicode NFC."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, list):
        return [nfc(v) for v in value]
    if isinstance(value, dict):
        return {nfc(k): nfc(v) for k, v in value.items()}
    return value


@dataclass
class VersionToCheck:
    """One pulled submission version (already NFC-normalised) and its identity;
    ``unreadable`` says why a record could not be parsed (it is then invalid for that reason)."""

    key: str
    item: dict[str, Any]
    unreadable: str | None = None


@dataclass
class ValidationOutcome:
    key: str
    is_valid: bool
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Reference:
    """What validation checks references against: the portal's units and task catalogue."""

    units: dict[str, dict[str, Any]]
    tasks: dict[str, dict[str, Any]]


def _form_schema(form: str) -> dict[str, Any]:
    return json.loads((FORMS_DIR / f"{form}.schema.json").read_text(encoding="utf-8"))


@cache
def form_validator(form: str) -> Draft202012Validator:
    """The reference validator: finds every error, with jsonschema's messages."""
    return Draft202012Validator(_form_schema(form), format_checker=FormatChecker())


def _is_date(value: str) -> bool:
    return _parse_date(value) is not None


@cache
def fast_form_check(form: str) -> Any:
    """A compiled validator used to pass sound payloads quickly; anything it
    rejects goes to :func:`form_validator` for the full list of reasons. The forms use no
    keyword beyond draft 7, which fastjsonschema compiles."""
    schema = {k: v for k, v in _form_schema(form).items() if k != "$schema"}
    return fastjsonschema.compile(schema, formats={"date": _is_date})


def _path(error_path: Any) -> str:
    out = "payload"
    for part in error_path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _parse_date(value: Any) -> date | None:
    if not isinstance(value, str) or not DATE_PATTERN.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _active_between(unit: dict[str, Any], first: date, last: date) -> bool:
    """True if the unit was active on at least one day of [first, last]."""
    active_from = _parse_date(unit.get("active_from")) or date.min
    active_to = _parse_date(unit.get("active_to")) or date.max
    return active_from <= last and active_to >= first


def check_envelope(item: dict[str, Any], ref: Reference) -> tuple[list[str], date | None]:
    """Envelope and reference checks; returns the reasons and the period's last day."""
    reasons: list[str] = []
    missing = [f for f in ENVELOPE_FIELDS if item.get(f) is None]
    if missing:
        reasons.append(f"missing envelope field(s): {', '.join(missing)}")
    form = item.get("form")
    if form not in FORMS:
        reasons.append(f"form {form!r} is not a known form ({', '.join(FORMS)})")
    for name in ("submission_id", "unit_code"):
        if item.get(name) is not None and not isinstance(item.get(name), str):
            reasons.append(f"{name} is a JSON {_json_type(item.get(name))}, not a string")
    version = item.get("version")
    if version is not None and not (_is_integer(version) and version >= 1):
        reasons.append(f"version {_shown(version)} is not an integer of at least 1")
    payload = item.get("payload")
    if payload is not None and not isinstance(payload, dict):
        reasons.append(f"payload is a JSON {_json_type(payload)}, not an object")
    form_version = item.get("form_version")
    if not _is_integer(form_version) or form_version not in KNOWN_FORM_VERSIONS:
        reasons.append(
            f"form_version {_shown(form_version)} is not a version this pipeline knows "
            f"(known: {', '.join(map(str, sorted(KNOWN_FORM_VERSIONS)))})"
        )
    period = item.get("period")
    first = last = None
    if form == "task_report":
        first = last = _parse_date(period)
        if first is None:
            reasons.append(f"period {period!r} is not a date YYYY-MM-DD (task_report)")
    elif form in QUARTERLY_FORMS:
        if isinstance(period, str) and QUARTER_PATTERN.fullmatch(period):
            year, quarter = int(period[:4]), int(period[6])
            first = date(year, 3 * quarter - 2, 1)
            last = date(year, 3 * quarter, calendar.monthrange(year, 3 * quarter)[1])
        else:
            reasons.append(f"period {period!r} is not a quarter YYYY-Qn (n = 1 to 4)")
    elif form in FORMS:
        if isinstance(period, str) and MONTH_PATTERN.fullmatch(period):
            year, month = int(period[:4]), int(period[5:])
            first = date(year, month, 1)
            last = date(year, month, calendar.monthrange(year, month)[1])
        else:
            reasons.append(f"period {period!r} is not a month YYYY-MM")
    submitted = parse_rfc3339(item.get("submitted_at"))
    for name in ("submitted_at", "updated_at"):
        if name not in missing and parse_rfc3339(item.get(name)) is None:
            reasons.append(
                f"{name} {_shown(item.get(name))} is not an RFC 3339 date-time with an offset"
            )
    if submitted is not None and first is not None:
        submitted_local = submitted.astimezone(LOCAL).date()
        if first > submitted_local:
            reasons.append(
                f"period {period} lies after the submission date {submitted_local.isoformat()} "
                "(a report on a period that had not begun)"
            )
    unit_code = item.get("unit_code")
    unit = ref.units.get(unit_code) if isinstance(unit_code, str) else None
    if unit is None:
        reasons.append(f"unit_code {unit_code!r} is not a unit listed by /api/v1/units")
    elif first is not None and last is not None and not _active_between(unit, first, last):
        reasons.append(
            f"unit {unit_code} was not active during period {period} "
            f"(active {unit.get('active_from')} to {unit.get('active_to') or 'now'})"
        )
    return reasons, last


def _is_integer(value: Any) -> bool:
    """A JSON integer (not a bool, not a float such as 1.0)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", float: "number",
            int: "integer"}.get(type(value), type(value).__name__)


def _shown(value: Any, limit: int = 60) -> str:
    """``value``'s repr for a reason, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}…"


def check_payload_structure(form: str, payload: Any) -> tuple[list[str], list[str]]:
    """JSON Schema checks: (structural reasons, reasons the GX suites would also find)."""
    try:
        fast_form_check(form)(payload)
        return [], []
    except fastjsonschema.JsonSchemaException:
        pass  # not sound: the reference validator lists every reason
    structural: list[str] = []
    gx_owned: list[str] = []
    for error in sorted(form_validator(form).iter_errors(payload), key=lambda e: list(e.path)):
        reason = f"{_path(error.absolute_path)}: {error.message}"
        (gx_owned if error.validator in GX_OWNED_KEYWORDS else structural).append(reason)
    return structural, gx_owned


def check_task_entries(item: dict[str, Any], ref: Reference, period_day: date | None) -> list[str]:
    """The task_report rules of MARTS.md that concern task codes and ``completed_on``."""
    reasons: list[str] = []
    payload = item.get("payload")
    tasks = payload.get("tasks") if isinstance(payload, dict) else None
    if not isinstance(tasks, list):
        return reasons
    seen: set[str] = set()
    unit_code = item.get("unit_code")
    for index, entry in enumerate(tasks):
        if not isinstance(entry, dict):
            continue
        code = entry.get("task_code")
        where = f"tasks[{index}] ({code})"
        task = ref.tasks.get(code) if isinstance(code, str) else None
        if task is None:
            reasons.append(f"{where}: task_code is not in the task catalogue")
        elif task.get("assigned_unit_code") != unit_code:
            reasons.append(
                f"{where}: task is assigned to {task.get('assigned_unit_code')}, not to {unit_code}"
            )
        if isinstance(code, str):
            if code in seen:
                reasons.append(f"{where}: task listed twice in the report")
            seen.add(code)
        status = entry.get("status")
        completed_on = entry.get("completed_on")
        if status == "completed" and completed_on is None:
            reasons.append(f"{where}: status is completed but completed_on is missing")
        if status != "completed" and completed_on is not None:
            reasons.append(f"{where}: completed_on is set but status is {status!r}, not completed")
        done = _parse_date(completed_on)
        if done is not None and period_day is not None and done > period_day:
            reasons.append(
                f"{where}: completed_on {completed_on} is after the report's period {period_day}"
            )
    return reasons


def _frame_rows(form: str, key: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows a sound payload contributes to its form's GX DataFrame."""
    if form == "task_report":
        return [
            {"key": key, "entry": f"tasks[{i}] ({e.get('task_code')})", "status": e.get("status"),
             "progress_pct": float(e.get("progress_pct"))}
            for i, e in enumerate(payload["tasks"])
        ]
    row = {"key": key, **payload}
    if form == "connectivity_report":
        row["villages_dead_zone"] = payload["villages_no_signal"] + payload["villages_weak_signal"]
    elif form == "digital_skills_report":
        row["participants_total"] = (
            payload["participants_officials"]
            + payload["participants_citizens"]
            + payload["participants_students"]
        )
    return [row]


def load_suite_documents(expectations_dir: Path = EXPECTATIONS_DIR) -> dict[str, dict[str, Any]]:
    """The reviewed suite JSON documents, by suite name."""
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(expectations_dir.glob("*.json"))
    }


class GxSuites:
    """The Great Expectations suites of one night in one ephemeral context, run over the night's
    DataFrames one chunk at a time (:meth:`run`); :meth:`build_docs` renders every result once.

    The suites' expectations are all row by row, so a chunk's verdicts do not depend on the
    other chunks."""

    def __init__(self, docs_dir: Path | None = None) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
        import great_expectations as gx  # imported here: slow, paid once per night

        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        self._gx = gx
        self.docs_dir = docs_dir
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = {"globally": False}
        if docs_dir is not None:
            self.context.add_data_docs_site(
                site_name="nightly",
                site_config={
                    "class_name": "SiteBuilder",
                    "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                                      "base_directory": str(docs_dir)},
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                },
            )
        self.source = self.context.data_sources.add_pandas("portal_submissions")
        self.documents = load_suite_documents()
        self.checkpoints: dict[str, Any] = {}
        self.rendered: list[Any] = []  # the night's results and suites, for the Data Docs

    def _checkpoint(self, form: str) -> Any:
        """The form's checkpoint, made on first use and run again for every chunk."""
        if form not in self.checkpoints:
            gx = self._gx
            suite_name = GX_SUITES[form]
            document = self.documents[suite_name]
            suite = self.context.suites.add(
                gx.ExpectationSuite(name=suite_name, expectations=document["expectations"],
                                    notes=document.get("notes"))
            )
            batch = self.source.add_dataframe_asset(form).add_batch_definition_whole_dataframe("night")
            definition = self.context.validation_definitions.add(
                gx.ValidationDefinition(name=f"{form}_night", data=batch, suite=suite)
            )
            index_columns = ["key", "entry"] if form == "task_report" else ["key"]
            self.checkpoints[form] = self.context.checkpoints.add(
                gx.Checkpoint(
                    name=f"{form}_checkpoint",
                    validation_definitions=[definition],
                    result_format={"result_format": "COMPLETE",
                                   "unexpected_index_column_names": index_columns},
                )
            )
        return self.checkpoints[form]

    def run(self, frames: dict[str, list[dict[str, Any]]], run_name: str = "night") -> dict[str, list[str]]:
        """Run each form's suite over its rows; return the reasons by version key."""
        import pandas as pd
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
        )

        reasons: dict[str, list[str]] = defaultdict(list)
        for form, rows in frames.items():
            if not rows:
                continue
            outcome = self._checkpoint(form).run(
                batch_parameters={"dataframe": pd.DataFrame(rows)},
                run_id=RunIdentifier(run_name=run_name),
            )
            self.rendered += [*outcome.run_results, ExpectationSuiteIdentifier(name=GX_SUITES[form])]
            for result in outcome.run_results.values():
                for expectation in result.results:
                    if expectation.success:
                        continue
                    config = expectation.expectation_config
                    reason = config.meta.get("reason", config.type)
                    for hit in expectation.result.get("unexpected_index_list") or []:
                        prefix = f"{hit['entry']}: " if "entry" in hit else ""
                        reasons[hit["key"]].append(f"{prefix}{reason}")
        return reasons

    def build_docs(self) -> None:
        """Render the night's results as Data Docs in ``docs_dir`` (nothing without one)."""
        if self.docs_dir is not None and self.rendered:
            # One Data Docs build for the night's suites, not one per checkpoint run
            # (UpdateDataDocsAction): each build renders the site's templates anew.
            self.context.build_data_docs(site_names=["nightly"], resource_identifiers=self.rendered)


def run_gx_suites(
    frames: dict[str, list[dict[str, Any]]], docs_dir: Path | None = None, run_name: str = "night"
) -> dict[str, list[str]]:
    """Run each form's suite over its DataFrame; return reasons by version key.

    With ``docs_dir``, the night's results are also rendered as GX Data Docs there.
    """
    suites = GxSuites(docs_dir)
    reasons = suites.run(frames, run_name)
    suites.build_docs()
    return reasons


# Versions validated at once: the parsed records and their DataFrames of one chunk are what the
# validate step holds in memory, whatever the length of the history pulled.
CHUNK_VERSIONS = 50_000


def _check_chunk(
    versions: list[VersionToCheck], ref: Reference, suites: Callable[[], GxSuites], run_name: str
) -> list[ValidationOutcome]:
    """Every check on one chunk of versions; ``suites`` gives the night's GX suites (made on
    first use: a night with nothing for GX does not pay their import)."""
    reasons: dict[str, list[str]] = {}
    frames: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for version in versions:
        item = version.item
        if version.unreadable:
            reasons[version.key] = [version.unreadable]
            continue
        if not isinstance(item, dict):
            reasons[version.key] = [f"the version is a JSON {_json_type(item)}, not an object"]
            continue
        if item.get("status") == "withdrawn":
            continue
        try:
            found, period_day = check_envelope(item, ref)
            form = item.get("form")
            payload = item.get("payload")
            if form in FORMS and isinstance(payload, dict):
                structural, gx_owned = check_payload_structure(form, payload)
                found.extend(structural)
                if structural:
                    found.extend(gx_owned)  # GX only sees sound payloads
                else:
                    frames[form].extend(_frame_rows(form, version.key, payload))
                if form == "task_report":
                    found.extend(check_task_entries(item, ref, period_day))
        except RecursionError:
            found = ["the version is nested too deeply to check (a hostile or broken record)"]
        reasons[version.key] = found
    if any(frames.values()):
        for key, gx_reasons in suites().run(frames, run_name).items():
            reasons[key].extend(gx_reasons)
    return [
        ValidationOutcome(key=v.key, is_valid=not reasons.get(v.key), reasons=reasons.get(v.key, []))
        for v in versions
    ]


def iter_validated(
    versions: Iterable[VersionToCheck], ref: Reference, docs_dir: Path | None = None,
    run_name: str = "night", chunk_size: int = CHUNK_VERSIONS,
) -> Iterator[ValidationOutcome]:
    """Validate ``versions`` ``chunk_size`` at a time, in order, yielding each one's outcome;
    only one chunk is held in memory. The outcomes are those of :func:`validate_versions` over
    all of them at once. With ``docs_dir``, the Great Expectations results of every chunk are
    rendered there as Data Docs once the last chunk is done."""
    suites: GxSuites | None = None

    def night_suites() -> GxSuites:
        nonlocal suites
        if suites is None:
            suites = GxSuites(docs_dir)
        return suites

    remaining = iter(versions)
    while chunk := list(islice(remaining, chunk_size)):
        yield from _check_chunk(chunk, ref, night_suites, run_name)
    if suites is not None:
        suites.build_docs()


def validate_versions(
    versions: list[VersionToCheck], ref: Reference, docs_dir: Path | None = None,
    run_name: str = "night", chunk_size: int = CHUNK_VERSIONS,
) -> list[ValidationOutcome]:
    """Validate a night's versions; every invalid one gets all its reasons.

    With ``docs_dir``, the Great Expectations results are rendered there as Data Docs.
    """
    return list(iter_validated(versions, ref, docs_dir, run_name, chunk_size))
