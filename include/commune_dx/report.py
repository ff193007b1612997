"""The KPI summary (terminal) and the nightly HTML report, both read from ``serving.duckdb``.

Both show the figures of the marts as they are: the headline and the summary come from
``province_kpis`` and ``phase_summary`` (contract MARTS.md), the other sections from plain SELECTs
of mart rows; no KPI is computed here. The report is one self-contained HTML file for the
Steering Committee (Ban Chỉ đạo), rendered from the Jinja2 templates in ``commune_dx/templates``
(autoescaped): Vietnamese first, English labels beside, inline SVG charts, and one inline script
(table sorting) pinned by its hash in the page's Content-Security-Policy, so nothing else can run
even if escaping ever failed. A mart that is not published shows as "no data", never an error.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
from markupsafe import Markup

from commune_dx.charts import ChartPoint, svg_bar_chart, svg_line_chart
from commune_dx.landing import write_text_atomic
from commune_dx.settings import LOCAL_TZ
from commune_dx.templating import environment, vn_date, vn_number, vn_pct, vn_period

# Relative to the report: produced by the validation, dbt and export steps of the night.
GX_DOCS_PATH = "gx_docs/index.html"
DBT_DOCS_PATH = "dbt_docs/index.html"
EXPORTS_DIR = "exports"
XLSX_EXPORT_PATH = f"{EXPORTS_DIR}/marts.xlsx"
# How much history the trend charts show.
TREND_NIGHTS = 60
TREND_MONTHS = 24
# The title of a warehouse that holds several provinces.
COUNTRY_NAME = "Việt Nam"
# How many distinct pull errors the terminal summary quotes.
SUMMARY_REASONS = 3

_TEMPLATES = files("commune_dx") / "templates"
SORT_SCRIPT = (_TEMPLATES / "sort.js").read_text(encoding="utf-8")
STYLE = (_TEMPLATES / "report.css").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Reading mart rows
# ---------------------------------------------------------------------------------------------


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    """The columns of ``marts.<table>`` (empty if the table is not published)."""
    return {
        row[0]
        for row in con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'marts' AND table_name = ?",
            [table],
        ).fetchall()
    }


def _select(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: Sequence[str],
    where: str = "TRUE",
    params: Sequence[Any] = (),
    order: str | None = None,
) -> list[dict[str, Any]] | None:
    """Rows of ``marts.<table>`` as dicts, None when the table is not published.

    A wanted column the table lacks reads as NULL (a warehouse published before the column existed).
    """
    available = _columns(con, table)
    if not available:
        return None
    select = ", ".join(c if c in available else f"NULL AS {c}" for c in columns)
    sql = f"SELECT {select} FROM marts.{table} WHERE {where}" + (f" ORDER BY {order}" if order else "")
    cursor = con.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


PROVINCE_KPI_COLUMNS = (
    "province_code", "province_name", "communes_active", "agencies_active", "tasks_central_total",
    "tasks_central_completed", "tasks_central_not_completed", "kpi_period", "dead_zone_villages",
    "fiber_household_rate", "outdated_computer_rate", "skills_coverage_rate", "full_online_rate",
    "on_time_rate", "reporting_rate", "reporting_rate_on_time",
)
TASK_COMPLETION_COLUMNS = (
    "scope_code", "tasks_total", "completed", "not_completed", "in_progress", "overdue",
    "completion_rate", "on_time_rate",
)
PHASE_SUMMARY_COLUMNS = (
    "phase", "province_code", "communes_total", "communes_green", "agencies_total", "agencies_green",
    "communes_green_rate", "province_green", "province_green_since",
)
CAPACITY_PROVINCE_COLUMNS = (
    "period", "province_code", "units_reporting", "agencies_reporting", "communes_reporting",
    "units_with_dx_specialist", "units_with_steering_committee", "information_systems",
    "systems_security_approved", "vulnerabilities_open", "devices_received", "trained_rate",
    "security_approved_rate",
)
PULL_STATUS_COLUMNS = ("unit_code", "pull_outcome", "pull_error")


def _quarter(as_of_date: str) -> str:
    """``2025-09-21`` → ``2025-Q3``."""
    day = date.fromisoformat(as_of_date)
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


@dataclass
class Night:
    """The figures of one night that the terminal summary and the report's headline share."""

    as_of_date: str
    # province_kpis rows of the night, one per province (ordered by province_code).
    provinces: list[dict[str, Any]]
    # task_completion's province rows of the night, by scope_code (central, provincial, all).
    tasks: dict[str, dict[str, Any]]
    # phase_summary rows of the night (None: the mart is not published).
    phases: list[dict[str, Any]] | None
    # The latest quarter of capacity_province_quarterly up to the night, and its rows.
    capacity_period: str | None
    capacity: list[dict[str, Any]] | None
    # unit_pull_status rows of the night whose pull did not succeed.
    pull_failures: list[dict[str, Any]] | None
    quarantined_versions: int | None
    # Marts of the contract that this warehouse does not publish (shown as "no data").
    missing_marts: list[str] = field(default_factory=list)

    @property
    def place(self) -> str:
        """The report's place: the one province's name, or the country when there are several."""
        if len(self.provinces) > 1:
            return COUNTRY_NAME
        if self.provinces:
            only = self.provinces[0]
            return only["province_name"] or only["province_code"] or "—"
        return "—"

    @property
    def province(self) -> dict[str, Any] | None:
        """The one province's ``province_kpis`` row (None when there are several or none)."""
        return self.provinces[0] if len(self.provinces) == 1 else None

    @property
    def central_tasks(self) -> dict[str, Any]:
        """``task_completion``'s row of central tasks (every province), or a row of NULLs."""
        return self.tasks.get("central") or dict.fromkeys(TASK_COMPLETION_COLUMNS)

    @property
    def headline_row(self) -> dict[str, Any]:
        """The one province's row, or a row of NULLs (no province yet) for the headline cards."""
        return self.province or dict.fromkeys(PROVINCE_KPI_COLUMNS)

    def province_name(self, code: str | None) -> str:
        """A province's name from ``province_kpis`` (its code when the name is unknown)."""
        for row in self.provinces:
            if row["province_code"] == code:
                return row["province_name"] or code or "—"
        return code or "—"

    @property
    def commonest_pull_errors(self) -> list[tuple[str, int]]:
        """The distinct pull errors of the night, commonest first."""
        errors = Counter(str(r["pull_error"] or r["pull_outcome"]) for r in self.pull_failures or [])
        return sorted(errors.items(), key=lambda item: (-item[1], item[0]))


def published_nights(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The as-of dates published in the warehouse, oldest first."""
    return [str(row[0]) for row in con.execute(
        "SELECT DISTINCT as_of_date FROM marts.task_completion ORDER BY as_of_date").fetchall()]


def read_night(con: duckdb.DuckDBPyConnection, as_of_date: str) -> Night:
    """The headline figures of the night ``as_of_date``: mart rows, read as they are."""
    missing = []
    night_filter = "as_of_date = CAST(? AS DATE)"
    provinces = _select(con, "province_kpis", PROVINCE_KPI_COLUMNS, night_filter, [as_of_date],
                        "province_code")
    if provinces is None:
        missing.append("province_kpis")
        provinces = []
    tasks = _select(con, "task_completion", TASK_COMPLETION_COLUMNS,
                    f"{night_filter} AND scope = 'province'", [as_of_date]) or []
    phases = _select(con, "phase_summary", PHASE_SUMMARY_COLUMNS, night_filter, [as_of_date],
                     "phase, province_code")
    capacity = _select(
        con, "capacity_province_quarterly", CAPACITY_PROVINCE_COLUMNS,
        "period = (SELECT max(period) FROM marts.capacity_province_quarterly WHERE period <= ?)",
        [_quarter(as_of_date)], "province_code",
    )
    failures = _select(con, "unit_pull_status", PULL_STATUS_COLUMNS,
                       f"{night_filter} AND pull_outcome <> 'ok'", [as_of_date], "unit_code")
    quarantine = _select(con, "quarantine", ("submission_id",))
    for name, rows in (("phase_summary", phases), ("capacity_province_quarterly", capacity),
                       ("unit_pull_status", failures), ("quarantine", quarantine)):
        if rows is None:
            missing.append(name)
    return Night(
        as_of_date=as_of_date,
        provinces=provinces,
        tasks={row["scope_code"]: row for row in tasks},
        phases=phases,
        capacity_period=capacity[0]["period"] if capacity else None,
        capacity=capacity,
        pull_failures=failures,
        quarantined_versions=None if quarantine is None else len(quarantine),
        missing_marts=missing,
    )


# ---------------------------------------------------------------------------------------------
# The terminal summary
# ---------------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _n(value: object) -> str:
    return "—" if value is None else str(value)


def _date(value: date | None) -> str:
    return "—" if value is None else value.strftime("%d/%m/%Y")


def _province_lines(row: dict[str, Any], completion_rate: float | None) -> list[str]:
    rate = f" ({_pct(completion_rate)})" if completion_rate is not None else ""
    period = row["kpi_period"] or "—"
    return [
        f"Central tasks (Resolution 57): {_n(row['tasks_central_total'])} total, "
        f"{_n(row['tasks_central_completed'])} completed, "
        f"{_n(row['tasks_central_not_completed'])} not completed{rate}",
        f"Dead-zone villages (no or weak mobile signal), {period}: {_n(row['dead_zone_villages'])}",
        f"Digital-skills coverage (Bình dân học vụ số), {period}: "
        f"{_pct(row['skills_coverage_rate'])} of the population completed the basic course",
        f"Reporting rate, {period}: {_pct(row['reporting_rate'])} received, "
        f"{_pct(row['reporting_rate_on_time'])} on time",
    ]


def _phase_line(row: dict[str, Any]) -> str:
    """``phase 1 — province Green since 21/09/2025, communes Green 148/148``."""
    if row["province_green"] is None:
        province = "province Green: no agency assigned"
    elif row["province_green"]:
        province = f"province Green since {_date(row['province_green_since'])}"
    else:
        province = f"province not Green (agencies Green {row['agencies_green']}/{row['agencies_total']})"
    return (f"phase {_n(row['phase'])} — {province}, "
            f"communes Green {row['communes_green']}/{row['communes_total']}")


def format_summary(night: Night) -> str:
    """The terminal summary of ``make run``, ``make night`` and ``make summary``: the same night
    and the same figures as the report's headline."""
    several = len(night.provinces) > 1
    lines = [f"{night.place} digital transformation — status on {night.as_of_date}"]
    central = night.central_tasks
    if several:
        for row in night.provinces:
            lines.append(f"  {night.province_name(row['province_code'])} ({row['province_code']}):")
            lines += [f"    {line}" for line in _province_lines(row, None)]
    else:
        for row in night.provinces:
            lines += [f"  {line}" for line in _province_lines(row, central.get("completion_rate"))]
    lines.append(f"  Quarantined submission versions: {_n(night.quarantined_versions)}")
    if night.phases is None:
        lines.append("  Green status by phase: no data (mart phase_summary not published)")
    elif not night.phases:
        lines.append("  Green status by phase: no task has a phase yet")
    for row in night.phases or []:
        prefix = f"{night.province_name(row['province_code'])}: " if several else ""
        lines.append(f"  {prefix}{_phase_line(row)}")
    lines.append(f"  not completed {_n(central.get('not_completed'))}, "
                 f"of which overdue {_n(central.get('overdue'))}")
    if night.capacity is None:
        lines.append("  specialists: no data (mart capacity_province_quarterly not published)")
    elif not night.capacity:
        lines.append("  specialists: no quarterly capacity report yet")
    for row in night.capacity or []:
        prefix = f"{night.province_name(row['province_code'])}: " if several else ""
        lines.append(f"  {prefix}specialists present in {_n(row['units_with_dx_specialist'])} "
                     f"of {_n(row['units_reporting'])} units")
    if night.pull_failures is None:
        lines.append("  units that failed to pull: no data (mart unit_pull_status not published)")
    elif not night.pull_failures:
        lines.append("  units that failed to pull: 0")
    else:
        reasons = "; ".join(f"{_shorten(error)} ×{count}"
                            for error, count in night.commonest_pull_errors[:SUMMARY_REASONS])
        lines.append(f"  units that failed to pull: {len(night.pull_failures)} — "
                     f"commonest reasons: {reasons}")
    return "\n".join(lines)


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------------------------------
# What the report shows besides the headline
# ---------------------------------------------------------------------------------------------


@dataclass
class NightPoint:
    """Central-task completion on one night."""

    as_of_date: str
    completed: int
    tasks_total: int
    completion_rate: float | None


@dataclass
class MonthPoint:
    """The province's monthly KPIs for one period (``YYYY-MM``)."""

    period: str
    dead_zone_villages: int | None
    fiber_household_rate: float | None
    skills_coverage_rate: float | None
    full_online_rate: float | None
    reporting_rate: float | None


@dataclass
class GreenGap:
    """A unit that is not Green for a phase, and the tasks of that phase it has not completed."""

    phase: int
    unit_code: str
    unit_name: str | None
    province_code: str | None
    unit_type: str | None
    tasks_completed: int
    tasks_total: int
    not_completed: list[dict[str, Any]]


@dataclass
class WatchGroup:
    """The watchlist's tasks of one responsible unit: overdue first (most days late first), then
    at risk (nearest deadline first)."""

    unit_code: str
    unit_name: str | None
    overdue: list[dict[str, Any]]
    at_risk: list[dict[str, Any]]


@dataclass
class ReportData:
    """Everything the report shows for one as-of date."""

    night: Night
    nights: list[NightPoint]
    months: list[MonthPoint]
    green_gaps: list[GreenGap] | None
    watchlist: list[WatchGroup] | None
    capacity_units: dict[str, list[dict[str, Any]]] | None
    scorecard: list[dict[str, Any]]
    not_received: list[dict[str, Any]]
    quarantine: list[dict[str, Any]]
    unit_names: dict[str, str]


def read_nights(con: duckdb.DuckDBPyConnection, as_of_date: str) -> list[NightPoint]:
    """Central-task completion over the nights up to ``as_of_date`` (the latest ones)."""
    rows = _select(con, "task_completion", ("as_of_date", "completed", "tasks_total", "completion_rate"),
                   "scope = 'province' AND scope_code = 'central' AND as_of_date <= CAST(? AS DATE)",
                   [as_of_date], "as_of_date") or []
    return [NightPoint(str(r["as_of_date"]), r["completed"], r["tasks_total"], r["completion_rate"])
            for r in rows[-TREND_NIGHTS:]]


def _monthly_rows(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str], code: str | None,
                  before: str) -> dict[str, dict[str, Any]]:
    """``marts.<table>``'s rows of province ``code`` for the periods before ``before``, by period."""
    where, params = "period < ?", [before]
    # Province marts published before contract 1.1 have no province_code: they hold one province.
    if code is not None and "province_code" in _columns(con, table):
        where, params = f"{where} AND province_code = ?", [before, code]
    return {r["period"]: r for r in _select(con, table, ("period", *columns), where, params) or []}


def read_months(con: duckdb.DuckDBPyConnection, night: Night) -> list[MonthPoint]:
    """The one province's monthly KPIs for the complete months before the night's month; the
    reporting rate from ``province_kpis`` (the latest night that reported on each month)."""
    code = night.province["province_code"] if night.province else None
    month = night.as_of_date[:7]
    connectivity = _monthly_rows(con, "connectivity_province_monthly",
                                 ("dead_zone_villages", "fiber_household_rate"), code, month)
    skills = _monthly_rows(con, "digital_skills_province_monthly", ("coverage_rate",), code, month)
    services = _monthly_rows(con, "public_services_province_monthly", ("full_online_rate",), code, month)
    reporting: dict[str, float | None] = {}
    if code is not None:
        for row in _select(con, "province_kpis", ("kpi_period", "reporting_rate"),
                           "province_code = ? AND as_of_date <= CAST(? AS DATE) AND kpi_period < ?",
                           [code, night.as_of_date, month], "as_of_date") or []:
            reporting[row["kpi_period"]] = row["reporting_rate"]
    periods = sorted(set(connectivity) | set(skills) | set(services) | set(reporting))
    return [
        MonthPoint(
            period=p,
            dead_zone_villages=connectivity.get(p, {}).get("dead_zone_villages"),
            fiber_household_rate=connectivity.get(p, {}).get("fiber_household_rate"),
            skills_coverage_rate=skills.get(p, {}).get("coverage_rate"),
            full_online_rate=services.get(p, {}).get("full_online_rate"),
            reporting_rate=reporting.get(p),
        )
        for p in periods
    ][-TREND_MONTHS:]


def read_open_tasks(con: duckdb.DuckDBPyConnection, as_of_date: str) -> list[dict[str, Any]]:
    """The tasks not completed on ``as_of_date`` (``in_progress`` or ``overdue``), nearest deadline first."""
    return _select(con, "task_status", ("phase", "assigned_unit_code", "task_code", "task_title",
                                        "deadline", "status_class", "progress_pct"),
                   "as_of_date = CAST(? AS DATE) AND status_class IN ('in_progress', 'overdue')",
                   [as_of_date], "deadline, task_code") or []


def read_green_gaps(con: duckdb.DuckDBPyConnection, as_of_date: str,
                    open_tasks: list[dict[str, Any]]) -> list[GreenGap] | None:
    """The units not Green on ``as_of_date``, per phase, with the tasks of that phase they have not
    completed (from ``open_tasks``)."""
    units = _select(con, "phase_status", ("phase", "unit_code", "unit_name", "province_code", "unit_type",
                                          "tasks_completed", "tasks_total"),
                    "as_of_date = CAST(? AS DATE) AND NOT is_green", [as_of_date],
                    "phase, province_code, unit_code")
    if units is None:
        return None
    by_unit: dict[tuple[Any, str], list[dict[str, Any]]] = {}
    for task in open_tasks:
        by_unit.setdefault((task["phase"], task["assigned_unit_code"]), []).append(task)
    return [GreenGap(**unit, not_completed=by_unit.get((unit["phase"], unit["unit_code"]), []))
            for unit in units]


WATCHLIST_COLUMNS = (
    "task_code", "task_title", "task_group", "source", "phase", "assigned_unit_code", "province_code",
    "deadline", "days_to_deadline", "reported_status", "progress_pct", "last_reported_period", "risk",
)


def read_watchlist(con: duckdb.DuckDBPyConnection, as_of_date: str, unit_names: dict[str, str],
                   task_titles: dict[str, str]) -> list[WatchGroup] | None:
    """The tasks overdue or at risk on ``as_of_date``, grouped by responsible unit; the units with
    the most overdue tasks first. Titles come from ``task_titles`` when the mart has none."""
    rows = _select(con, "task_watchlist", WATCHLIST_COLUMNS,
                   "as_of_date = CAST(? AS DATE) AND risk IN ('overdue', 'at_risk')", [as_of_date],
                   "assigned_unit_code, days_to_deadline, task_code")
    if rows is None:
        return None
    groups: dict[str, WatchGroup] = {}
    for row in rows:
        unit = row["assigned_unit_code"]
        row["task_title"] = row["task_title"] or task_titles.get(row["task_code"])
        group = groups.setdefault(unit, WatchGroup(unit, unit_names.get(unit), [], []))
        (group.overdue if row["risk"] == "overdue" else group.at_risk).append(row)
    return sorted(groups.values(), key=lambda g: (-len(g.overdue), -len(g.at_risk), g.unit_code))


CAPACITY_UNIT_COLUMNS = (
    "unit_code", "province_code", "unit_type", "dx_specialists", "has_dx_specialist",
    "steering_committee", "information_systems", "systems_security_approved", "vulnerabilities_open",
    "devices_received",
)


def read_capacity_units(con: duckdb.DuckDBPyConnection,
                        period: str | None) -> dict[str, list[dict[str, Any]]] | None:
    """The units of the quarter ``period`` that lack something: a specialist, a steering committee,
    an approved security level for every system, or that have open vulnerabilities."""
    rows = _select(con, "capacity_quarterly", CAPACITY_UNIT_COLUMNS, "period = ?", [period],
                   "province_code, unit_code")
    if rows is None:
        return None
    return {
        "no_specialist": [r for r in rows if r["has_dx_specialist"] is False],
        "no_steering_committee": [r for r in rows if r["steering_committee"] is False],
        "open_vulnerabilities": [r for r in rows if (r["vulnerabilities_open"] or 0) > 0],
        "systems_not_approved": [
            r for r in rows
            if r["information_systems"] is not None and r["systems_security_approved"] is not None
            and r["systems_security_approved"] < r["information_systems"]
        ],
    }


SCORECARD_COLUMNS = (
    "unit_code", "unit_name", "unit_type", "province_code", "status", "status_reasons", "reporting_rate",
    "dead_zone_villages", "fiber_household_rate", "coverage_rate", "full_online_rate", "tasks_overdue",
)
STATUS_ORDER = {"red": 0, "yellow": 1, "green": 2}


def read_scorecard(con: duckdb.DuckDBPyConnection, as_of_date: str) -> list[dict[str, Any]]:
    """The communes' scorecard rows on ``as_of_date``, worst status first."""
    rows = _select(con, "commune_scorecard", SCORECARD_COLUMNS, "as_of_date = CAST(? AS DATE)",
                   [as_of_date]) or []
    return sorted(rows, key=lambda r: (STATUS_ORDER.get(r["status"], 3), str(r["unit_name"] or ""),
                                       r["unit_code"]))


def read_not_received(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Expected reports not received, one row per unit and period, latest period first."""
    columns = _columns(con, "reporting_completeness")
    if not columns:
        return []
    name = "unit_name" if "unit_name" in columns else "NULL"
    cursor = con.execute(
        f"SELECT period, unit_code, any_value({name}) AS unit_name, "
        "list(form ORDER BY form) AS forms FROM marts.reporting_completeness "
        "WHERE NOT received GROUP BY period, unit_code ORDER BY period DESC, unit_code",
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def read_unit_names(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Unit names by unit code, from the marts that carry them (communes and agencies alike)."""
    names: dict[str, str] = {}
    for table in ("reporting_completeness", "commune_scorecard"):
        if "unit_name" in _columns(con, table):
            names.update(con.execute(f"SELECT unit_code, any_value(unit_name) FROM marts.{table} "
                                     "WHERE unit_name IS NOT NULL GROUP BY unit_code").fetchall())
    return names


def read_quarantine(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every quarantined submission version, most recently seen first."""
    return _select(con, "quarantine", ("submission_id", "version", "unit_code", "form", "period", "reasons"),
                   order="first_seen_at DESC, submission_id, version") or []


def read_report_data(con: duckdb.DuckDBPyConnection, as_of_date: str) -> ReportData:
    """Everything the report for ``as_of_date`` shows, from one connection (one snapshot)."""
    night = read_night(con, as_of_date)
    scorecard = read_scorecard(con, as_of_date)
    unit_names = read_unit_names(con)
    open_tasks = read_open_tasks(con, as_of_date)
    task_titles = {t["task_code"]: t["task_title"] for t in open_tasks if t["task_title"]}
    for table in ("phase_status", "task_watchlist", "capacity_quarterly"):
        if not _columns(con, table):
            night.missing_marts.append(table)
    return ReportData(
        night=night,
        nights=read_nights(con, as_of_date),
        months=read_months(con, night),
        green_gaps=read_green_gaps(con, as_of_date, open_tasks),
        watchlist=read_watchlist(con, as_of_date, unit_names, task_titles),
        capacity_units=read_capacity_units(con, night.capacity_period),
        scorecard=scorecard,
        not_received=read_not_received(con),
        quarantine=read_quarantine(con),
        unit_names=unit_names,
    )


# ---------------------------------------------------------------------------------------------
# The charts of the trends section
# ---------------------------------------------------------------------------------------------


@dataclass
class TrendChart:
    """One chart panel: its Vietnamese and English captions and the SVG."""

    vi: str
    en: str
    svg: Markup


def _pct_axis(value: float) -> str:
    """Axis labels: whole percentages, one decimal when the axis is finer (0,5%)."""
    return vn_pct(value, 0 if float(round(value * 100, 6)).is_integer() else 1)


def trend_charts(data: ReportData) -> list[TrendChart]:
    """The trend charts: tasks over nights, then the monthly KPIs."""
    nights = [ChartPoint(vn_date(n.as_of_date)[:5], n.completion_rate, f"{n.completed}/{n.tasks_total}")
              for n in data.nights]

    def monthly(attr: str, fmt: Callable[[Any], str]) -> list[ChartPoint]:
        return [ChartPoint(vn_period(m.period), getattr(m, attr), fmt(getattr(m, attr))) for m in data.months]

    return [
        TrendChart("Hoàn thành nhiệm vụ Trung ương theo đêm", "Central tasks completed, night by night",
                   svg_line_chart("Central tasks completed", nights, _pct_axis)),
        TrendChart("Thôn lõm sóng, trắng sóng theo tháng", "Dead-zone villages by month",
                   svg_bar_chart("Dead-zone villages", monthly("dead_zone_villages", vn_number),
                                 vn_number, floor=10)),
        TrendChart("Hộ gia đình có cáp quang", "Households with fibre, by month",
                   svg_bar_chart("Fibre household coverage", monthly("fiber_household_rate", vn_pct),
                                 _pct_axis)),
        TrendChart("Bình dân học vụ số: tỷ lệ dân số hoàn thành khoá cơ bản",
                   "Digital-skills coverage (cumulative basic course)",
                   svg_bar_chart("Digital-skills coverage",
                                 monthly("skills_coverage_rate", lambda v: vn_pct(v, 2)), _pct_axis,
                                 floor=0.01)),
        TrendChart("Hồ sơ dịch vụ công trực tuyến toàn trình", "Full-online public-service rate",
                   svg_bar_chart("Full-online public-service rate", monthly("full_online_rate", vn_pct),
                                 _pct_axis)),
        TrendChart("Tỷ lệ báo cáo đã nhận", "Reporting rate (the three monthly forms)",
                   svg_bar_chart("Reporting rate", monthly("reporting_rate", vn_pct), _pct_axis)),
    ]


# ---------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------

FORM_LABELS = {
    "task_report": "Nhiệm vụ / Tasks",
    "connectivity_report": "Hạ tầng số / Connectivity",
    "digital_skills_report": "Bình dân học vụ số / Digital skills",
    "public_service_report": "Dịch vụ công / Public services",
    "capacity_report": "Năng lực, an toàn thông tin / Capacity and security",
}
UNIT_TYPE_LABELS = {"xa": "Xã", "phuong": "Phường", "dac_khu": "Đặc khu", "agency": "Cơ quan"}
# The product's own scorecard levels: worded so that none reads as the national Green status
# ("Xanh" is said only of phase_status).
STATUS_LABELS = {
    "green": "Đạt / On track",
    "yellow": "Cần chú ý / Watch",
    "red": "Chưa đạt / Behind",
}
KPI_LABELS = {
    "reporting_rate": "tỷ lệ báo cáo",
    "dead_zone_village_rate": "thôn lõm sóng",
    "coverage_rate": "BDHVS",
    "full_online_rate": "DVC toàn trình",
    "tasks_overdue": "nhiệm vụ quá hạn",
}
LEVEL_LABELS = {"red": "chưa đạt", "yellow": "cần chú ý", "green": "đạt"}


def reasons_text(reasons: str | None) -> str:
    """``coverage_rate: red; …`` with the KPI names and levels in Vietnamese (unknown parts kept)."""
    if not reasons:
        return ""
    parts = []
    for part in reasons.split("; "):
        kpi, _, level = part.partition(": ")
        parts.append(f"{KPI_LABELS.get(kpi, kpi)}: {LEVEL_LABELS.get(level, level)}" if level else part)
    return "; ".join(parts)


def script_hash(script: str) -> str:
    """The CSP source that lets exactly ``script`` run: ``sha256-<base64 digest>``."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


@dataclass
class Link:
    """A file beside the report: linked when it exists, else marked as not built yet."""

    path: str
    vi: str
    en: str
    exists: bool


def report_links(report_dir: Path) -> list[Link]:
    """The documentation and the exports beside the report (the CSVs as they are found)."""
    links = [
        Link(GX_DOCS_PATH, "Kiểm tra chất lượng dữ liệu", "Great Expectations Data Docs",
             (report_dir / GX_DOCS_PATH).is_file()),
        Link(DBT_DOCS_PATH, "Mô tả mô hình dữ liệu", "dbt docs (models and lineage)",
             (report_dir / DBT_DOCS_PATH).is_file()),
        Link(XLSX_EXPORT_PATH, "Bảng tính các bảng số liệu", "the marts as one Excel workbook",
             (report_dir / XLSX_EXPORT_PATH).is_file()),
    ]
    links += [Link(f"{EXPORTS_DIR}/{csv.name}", csv.name, "CSV export", True)
              for csv in sorted((report_dir / EXPORTS_DIR).glob("*.csv"))]
    return links


def render_page(data: ReportData, report_dir: Path, generated_at: datetime) -> str:
    """The whole report page, rendered from ``templates/report.html.j2``."""
    csp = (f"default-src 'none'; style-src 'unsafe-inline'; script-src '{script_hash(SORT_SCRIPT)}'; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    status_counts = {s: sum(1 for r in data.scorecard if r["status"] == s) for s in STATUS_ORDER}
    return environment().get_template("report.html.j2").render(
        data=data,
        night=data.night,
        charts=trend_charts(data),
        links=report_links(report_dir),
        csp=csp,
        style=Markup(STYLE),
        script=Markup(SORT_SCRIPT),
        generated_at=generated_at.strftime("%d/%m/%Y %H:%M"),
        local_tz=LOCAL_TZ,
        status_counts=status_counts,
        status_order=STATUS_ORDER,
        status_labels=STATUS_LABELS,
        form_labels=FORM_LABELS,
        unit_type_labels=UNIT_TYPE_LABELS,
        reasons_text=reasons_text,
    )


def write_report(serving_db: Path, report_path: Path, as_of_date: str) -> Path:
    """Write the steering committee's HTML report for ``as_of_date``; return its path.

    Reads the published ``serving_db`` read-only, in one connection (one consistent snapshot),
    and replaces ``report_path`` atomically. The links to GX Data Docs, dbt docs and the exports
    point beside the report; those not built yet when the report is written say so.
    """
    con = duckdb.connect(str(serving_db), read_only=True)
    try:
        data = read_report_data(con, as_of_date)
    finally:
        con.close()
    page = render_page(data, report_path.parent, datetime.now(ZoneInfo(LOCAL_TZ)))
    write_text_atomic(report_path, page)
    return report_path
