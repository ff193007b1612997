"""The KPI summary (terminal) and the nightly HTML report, both read from ``serving.duckdb``.

The report is one self-contained HTML file for the provincial Steering Committee (Ban Chỉ đạo):
Vietnamese first, English labels beside. No scripts, fonts or styles from the internet: charts
are inline SVG drawn here, and the only script (table sorting) is inline and pinned by its hash
in the page's Content-Security-Policy, so nothing else can run even if escaping ever failed.
Every text that comes from submissions or the portal (unit names, notes, reasons) is escaped.
"""

from __future__ import annotations

import base64
import hashlib
import html
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from commune_dx.settings import LOCAL_TZ

# Relative to the report: produced by the validation and dbt steps of the night.
GX_DOCS_PATH = "gx_docs/index.html"
DBT_DOCS_PATH = "dbt_docs/index.html"
# How much history the trend charts show.
TREND_NIGHTS = 60
TREND_MONTHS = 24


@dataclass
class Headline:
    """The province's headline figures for one as-of date."""

    as_of_date: str
    tasks_total: int | None
    tasks_completed: int | None
    tasks_not_completed: int | None
    task_completion_rate: float | None
    dead_zone_period: str | None
    dead_zone_villages: int | None
    skills_period: str | None
    skills_coverage_rate: float | None
    reporting_period: str | None
    reporting_rate: float | None
    reporting_rate_on_time: float | None
    quarantined_versions: int


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> tuple:
    row = con.execute(sql, params or []).fetchone()
    return row if row else ()


def read_headline(con: duckdb.DuckDBPyConnection, as_of_date: str | None = None) -> Headline:
    """Headline KPIs for ``as_of_date`` (default: the latest night published)."""
    if as_of_date is None:
        as_of_date = str(_one(con, "SELECT max(as_of_date) FROM marts.task_completion")[0])
    tasks = _one(
        con,
        "SELECT tasks_total, completed, tasks_total - completed, completion_rate "
        "FROM marts.task_completion WHERE as_of_date = ? AND scope = 'province' "
        "AND scope_code = 'central'",
        [as_of_date],
    ) or (None, None, None, None)
    month = as_of_date[:7]
    dead = _one(
        con,
        "SELECT period, dead_zone_villages FROM marts.connectivity_province_monthly "
        "WHERE period < ? ORDER BY period DESC LIMIT 1",
        [month],
    ) or (None, None)
    skills = _one(
        con,
        "SELECT period, coverage_rate FROM marts.digital_skills_province_monthly "
        "WHERE period < ? ORDER BY period DESC LIMIT 1",
        [month],
    ) or (None, None)
    reporting = _one(
        con,
        "SELECT period, sum(actual_reports) / nullif(sum(expected_reports), 0), "
        "sum(actual_reports_on_time) / nullif(sum(expected_reports), 0) "
        "FROM marts.reporting_rate WHERE period = (SELECT max(period) FROM marts.reporting_rate) "
        "GROUP BY period",
    ) or (None, None, None)
    quarantined = _one(con, "SELECT count(*) FROM marts.quarantine")[0]
    return Headline(as_of_date, *tasks, *dead, *skills, *reporting, quarantined)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def format_summary(h: Headline) -> str:
    """The terminal summary of ``make run`` and ``make night``."""
    lines = [
        f"Phú Thọ digital transformation — status on {h.as_of_date}",
        f"  Central tasks (Resolution 57): {h.tasks_total} total, {h.tasks_completed} completed, "
        f"{h.tasks_not_completed} not completed ({_pct(h.task_completion_rate)})",
        f"  Dead-zone villages (no or weak mobile signal), {h.dead_zone_period}: {h.dead_zone_villages}",
        f"  Digital-skills coverage (Bình dân học vụ số), {h.skills_period}: "
        f"{_pct(h.skills_coverage_rate)} of the population completed the basic course",
        f"  Reporting rate, {h.reporting_period}: {_pct(h.reporting_rate)} received, "
        f"{_pct(h.reporting_rate_on_time)} on time",
        f"  Quarantined submission versions: {h.quarantined_versions}",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# What the report shows, read from the published marts
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
class Rows:
    """Rows of one query, with their column names."""

    columns: list[str]
    rows: list[tuple]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass
class ReportData:
    """Everything the report shows for one as-of date."""

    headline: Headline
    nights: list[NightPoint]
    months: list[MonthPoint]
    scorecard: list[dict[str, Any]]
    not_received: list[dict[str, Any]]
    unreachable: list[dict[str, Any]]
    quarantine: list[dict[str, Any]]


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Rows:
    cursor = con.execute(sql, params or [])
    return Rows([d[0] for d in cursor.description], cursor.fetchall())


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


def _select_list(available: set[str], wanted: Sequence[str]) -> str:
    """``wanted`` columns, NULL for those the table does not have (beyond the contract)."""
    return ", ".join(c if c in available else f"NULL AS {c}" for c in wanted)


def read_nights(con: duckdb.DuckDBPyConnection, as_of_date: str) -> list[NightPoint]:
    """Central-task completion over the nights up to ``as_of_date`` (the latest ones)."""
    rows = con.execute(
        "SELECT strftime(as_of_date, '%Y-%m-%d'), completed, tasks_total, completion_rate "
        "FROM marts.task_completion WHERE scope = 'province' AND scope_code = 'central' "
        "AND as_of_date <= CAST(? AS DATE) ORDER BY as_of_date",
        [as_of_date],
    ).fetchall()
    return [NightPoint(*row) for row in rows[-TREND_NIGHTS:]]


def read_months(con: duckdb.DuckDBPyConnection, as_of_date: str) -> list[MonthPoint]:
    """Province-wide monthly KPIs for the complete months before ``as_of_date``'s month."""
    rows = con.execute(
        """
        WITH periods AS (
            SELECT period FROM marts.connectivity_province_monthly
            UNION SELECT period FROM marts.digital_skills_province_monthly
            UNION SELECT period FROM marts.public_services_province_monthly
            UNION SELECT period FROM marts.reporting_rate
        ), reporting AS (
            SELECT period, sum(actual_reports) / nullif(sum(expected_reports), 0) AS rate
            FROM marts.reporting_rate GROUP BY period
        )
        SELECT p.period, c.dead_zone_villages, c.fiber_household_rate, d.coverage_rate,
               s.full_online_rate, r.rate
        FROM periods p
        LEFT JOIN marts.connectivity_province_monthly c USING (period)
        LEFT JOIN marts.digital_skills_province_monthly d USING (period)
        LEFT JOIN marts.public_services_province_monthly s USING (period)
        LEFT JOIN reporting r USING (period)
        WHERE p.period < ? ORDER BY p.period
        """,
        [as_of_date[:7]],
    ).fetchall()
    return [MonthPoint(*row) for row in rows[-TREND_MONTHS:]]


SCORECARD_COLUMNS = (
    "unit_code", "unit_name", "unit_type", "status", "status_reasons", "reporting_rate",
    "dead_zone_villages", "fiber_household_rate", "coverage_rate", "full_online_rate",
    "tasks_overdue",
)
STATUS_ORDER = {"red": 0, "yellow": 1, "green": 2}


def read_scorecard(con: duckdb.DuckDBPyConnection, as_of_date: str) -> list[dict[str, Any]]:
    """The communes' scorecard rows on ``as_of_date``, worst status first."""
    select = _select_list(_columns(con, "commune_scorecard"), SCORECARD_COLUMNS)
    rows = _rows(
        con,
        f"SELECT {select} FROM marts.commune_scorecard WHERE as_of_date = CAST(? AS DATE)",
        [as_of_date],
    ).dicts()
    return sorted(rows, key=lambda r: (STATUS_ORDER.get(r["status"], 3), str(r["unit_name"] or ""),
                                       r["unit_code"]))


def read_not_received(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Expected reports not received, one row per unit and period, latest period first."""
    name = "unit_name" if "unit_name" in _columns(con, "reporting_completeness") else "NULL"
    return _rows(
        con,
        f"SELECT period, unit_code, any_value({name}) AS unit_name, "
        "list(form ORDER BY form) AS forms FROM marts.reporting_completeness "
        "WHERE NOT received GROUP BY period, unit_code ORDER BY period DESC, unit_code",
    ).dicts()


def read_unreachable(con: duckdb.DuckDBPyConnection, as_of_date: str) -> list[dict[str, Any]]:
    """Units whose pull failed on ``as_of_date`` (when the pipeline publishes that mart)."""
    columns = _columns(con, "unit_pull_status")
    if not {"as_of_date", "unit_code", "pull_outcome"} <= columns:
        return []
    error = "pull_error" if "pull_error" in columns else "NULL"
    return _rows(
        con,
        f"SELECT unit_code, {error} AS pull_error FROM marts.unit_pull_status "
        "WHERE as_of_date = CAST(? AS DATE) AND pull_outcome <> 'ok' ORDER BY unit_code",
        [as_of_date],
    ).dicts()


def read_quarantine(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every quarantined submission version, most recently seen first."""
    return _rows(
        con,
        "SELECT submission_id, version, unit_code, form, period, reasons FROM marts.quarantine "
        "ORDER BY first_seen_at DESC, submission_id, version",
    ).dicts()


def read_report_data(con: duckdb.DuckDBPyConnection, as_of_date: str) -> ReportData:
    """Everything the report for ``as_of_date`` shows, from one connection (one snapshot)."""
    return ReportData(
        headline=read_headline(con, as_of_date),
        nights=read_nights(con, as_of_date),
        months=read_months(con, as_of_date),
        scorecard=read_scorecard(con, as_of_date),
        not_received=read_not_received(con),
        unreachable=read_unreachable(con, as_of_date),
        quarantine=read_quarantine(con),
    )


# ---------------------------------------------------------------------------------------------
# Formatting (Vietnamese conventions: 1.234,5 and dd/mm/yyyy)
# ---------------------------------------------------------------------------------------------


def _e(value: object) -> str:
    """Escape any value for HTML text or a quoted attribute; None becomes an empty string."""
    return html.escape("" if value is None else str(value), quote=True)


def vn_number(value: float | None, decimals: int = 0) -> str:
    """``1234.5`` → ``1.234,5`` (Vietnamese separators); None → ``—``."""
    if value is None:
        return "—"
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\u2009").replace(".", ",").replace("\u2009", ".")


def vn_pct(rate: float | None, decimals: int = 1) -> str:
    """A rate in [0, 1] as a Vietnamese percentage: ``0.585`` → ``58,5%``."""
    return "—" if rate is None else f"{vn_number(rate * 100, decimals)}%"


def vn_date(iso_date: str) -> str:
    """``2025-09-21`` → ``21/09/2025``."""
    return date.fromisoformat(iso_date).strftime("%d/%m/%Y")


def vn_period(period: str | None) -> str:
    """``2025-08`` → ``08/2025``."""
    if not period or len(period) != 7:
        return period or "—"
    return f"{period[5:]}/{period[:4]}"


FORM_LABELS = {
    "task_report": "Nhiệm vụ / Tasks",
    "connectivity_report": "Hạ tầng số / Connectivity",
    "digital_skills_report": "Bình dân học vụ số / Digital skills",
    "public_service_report": "Dịch vụ công / Public services",
}
UNIT_TYPE_LABELS = {"xa": "Xã", "phuong": "Phường", "dac_khu": "Đặc khu"}
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
LEVEL_LABELS = {"red": "đỏ", "yellow": "vàng", "green": "xanh"}


def _reasons_text(reasons: str | None) -> str:
    """``coverage_rate: red; …`` with the KPI names in Vietnamese (unknown parts kept as they are)."""
    if not reasons:
        return ""
    parts = []
    for part in reasons.split("; "):
        kpi, _, level = part.partition(": ")
        parts.append(f"{KPI_LABELS.get(kpi, kpi)}: {LEVEL_LABELS.get(level, level)}" if level else part)
    return "; ".join(parts)


# ---------------------------------------------------------------------------------------------
# Inline SVG charts
# ---------------------------------------------------------------------------------------------

CHART_WIDTH, CHART_HEIGHT = 460, 210
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 44, 14, 22, 34
ACCENT = "#0b5cad"


@dataclass
class ChartPoint:
    """One bar or point: its x label, its value (None = no data) and the text shown above it."""

    label: str
    value: float | None
    text: str


def _nice_max(values: Sequence[float], floor: float) -> float:
    """A round upper bound for the y axis, at least ``floor``."""
    top = max([*values, floor])
    for power in range(-4, 8):
        for step in (1, 2, 2.5, 5):
            bound = step * 10**power
            if bound >= top:
                return bound
    return top


def _chart_frame(title: str, y_max: float, y_format: Callable[[float], str], has_data: bool) -> list[str]:
    """The SVG opening, the title, three horizontal grid lines with their labels (and a note
    when there is nothing to draw)."""
    plot_h = CHART_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    parts = [
        f'<svg class="chart" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" role="img" '
        f'aria-label="{_e(title)}"><title>{_e(title)}</title>'
    ]
    if not has_data:
        parts.append(f'<text x="{CHART_WIDTH / 2:.1f}" y="{MARGIN_TOP + plot_h / 2:.1f}" class="axis" '
                     'text-anchor="middle">chưa có số liệu / no data yet</text>')
    for fraction in (0, 0.5, 1):
        y = MARGIN_TOP + plot_h * (1 - fraction)
        parts.append(
            f'<line x1="{MARGIN_LEFT}" x2="{CHART_WIDTH - MARGIN_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'class="grid{" base" if fraction == 0 else ""}"/>'
            f'<text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">'
            f"{_e(y_format(y_max * fraction))}</text>"
        )
    return parts


def _x_positions(count: int) -> list[float]:
    plot_w = CHART_WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    step = plot_w / max(count, 1)
    return [MARGIN_LEFT + step * (i + 0.5) for i in range(count)]


def _y(value: float, y_max: float) -> float:
    plot_h = CHART_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    return MARGIN_TOP + plot_h * (1 - value / y_max)


def _x_labels(points: Sequence[ChartPoint], xs: Sequence[float]) -> list[str]:
    """X labels, thinned out so that at most ~10 are written."""
    every = max(1, -(-len(points) // 10))
    return [
        f'<text x="{x:.1f}" y="{CHART_HEIGHT - 12}" class="axis" text-anchor="middle">{_e(p.label)}</text>'
        for i, (p, x) in enumerate(zip(points, xs, strict=True))
        if i % every == 0 or i == len(points) - 1
    ]


def svg_bar_chart(title: str, points: Sequence[ChartPoint], y_format: Callable[[float], str],
                  floor: float = 1.0) -> str:
    """A bar chart as an inline SVG element; bars without a value are left out."""
    values = [p.value for p in points if p.value is not None]
    y_max = _nice_max(values, floor)
    xs = _x_positions(len(points))
    width = min(56.0, (CHART_WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / max(len(points), 1) * 0.6)
    parts = _chart_frame(title, y_max, y_format, bool(values))
    base = _y(0, y_max)
    for point, x in zip(points, xs, strict=True):
        if point.value is None:
            parts.append(f'<text x="{x:.1f}" y="{base - 4:.1f}" class="value" '
                         f'text-anchor="middle">—</text>')
            continue
        top = _y(point.value, y_max)
        parts.append(
            f'<rect x="{x - width / 2:.1f}" y="{top:.1f}" width="{width:.1f}" '
            f'height="{max(base - top, 0.5):.1f}" rx="2" fill="{ACCENT}"/>'
            f'<text x="{x:.1f}" y="{top - 5:.1f}" class="value" text-anchor="middle">{_e(point.text)}</text>'
        )
    parts += _x_labels(points, xs)
    parts.append("</svg>")
    return "".join(parts)


def svg_line_chart(title: str, points: Sequence[ChartPoint], y_format: Callable[[float], str],
                   floor: float = 1.0) -> str:
    """A line chart (with dots and the last value labelled) as an inline SVG element."""
    values = [p.value for p in points if p.value is not None]
    y_max = _nice_max(values, floor)
    xs = _x_positions(len(points))
    parts = _chart_frame(title, y_max, y_format, bool(values))
    drawn = [(x, _y(p.value, y_max), p) for p, x in zip(points, xs, strict=True) if p.value is not None]
    if len(drawn) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in drawn)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{ACCENT}" stroke-width="2.5"/>')
    label_every = max(1, -(-len(drawn) // 6))
    for i, (x, y, point) in enumerate(drawn):
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{ACCENT}"><title>'
                     f"{_e(point.label)}: {_e(point.text)}</title></circle>")
        if i % label_every == 0 or i == len(drawn) - 1:
            parts.append(f'<text x="{x:.1f}" y="{y - 9:.1f}" class="value" text-anchor="middle">'
                         f"{_e(point.text)}</text>")
    parts += _x_labels(points, xs)
    parts.append("</svg>")
    return "".join(parts)


def _pct_axis(value: float) -> str:
    """Axis labels: whole percentages, one decimal when the axis is finer (0,5%)."""
    return vn_pct(value, 0 if float(round(value * 100, 6)).is_integer() else 1)


def _count_axis(value: float) -> str:
    return vn_number(value)


def render_charts(data: ReportData) -> str:
    """The trend charts: tasks over nights, then the monthly KPIs."""
    nights = [ChartPoint(vn_date(n.as_of_date)[:5], n.completion_rate,
                         f"{n.completed}/{n.tasks_total}") for n in data.nights]
    months = data.months

    def monthly(attr: str, fmt: Callable[[float | None], str]) -> list[ChartPoint]:
        return [ChartPoint(vn_period(m.period), getattr(m, attr), fmt(getattr(m, attr))) for m in months]

    charts = [
        ("Hoàn thành nhiệm vụ Trung ương theo đêm", "Central tasks completed, night by night",
         svg_line_chart("Central tasks completed", nights, _pct_axis)),
        ("Thôn lõm sóng, trắng sóng theo tháng", "Dead-zone villages by month",
         svg_bar_chart("Dead-zone villages", monthly("dead_zone_villages", vn_number),
                       _count_axis, floor=10)),
        ("Hộ gia đình có cáp quang", "Households with fibre, by month",
         svg_bar_chart("Fibre household coverage", monthly("fiber_household_rate", vn_pct), _pct_axis)),
        ("Bình dân học vụ số: tỷ lệ dân số hoàn thành khoá cơ bản",
         "Digital-skills coverage (cumulative basic course)",
         svg_bar_chart("Digital-skills coverage",
                       monthly("skills_coverage_rate", lambda v: vn_pct(v, 2)), _pct_axis, floor=0.01)),
        ("Hồ sơ dịch vụ công trực tuyến toàn trình", "Full-online public-service rate",
         svg_bar_chart("Full-online public-service rate", monthly("full_online_rate", vn_pct), _pct_axis)),
        ("Tỷ lệ báo cáo đã nhận", "Reporting rate (all forms)",
         svg_bar_chart("Reporting rate", monthly("reporting_rate", vn_pct), _pct_axis)),
    ]
    return "".join(
        f'<figure class="panel"><figcaption><strong>{_e(vi)}</strong>'
        f'<span class="en">{_e(en)}</span></figcaption>{svg}</figure>'
        for vi, en, svg in charts
    )


# ---------------------------------------------------------------------------------------------
# Page sections
# ---------------------------------------------------------------------------------------------


def _latest_month(data: ReportData) -> MonthPoint | None:
    return data.months[-1] if data.months else None


def render_cards(data: ReportData) -> str:
    """The headline KPI cards, each tagged ``data-kpi`` for tests and scrapers."""
    h = data.headline
    month = _latest_month(data)
    fibre = month.fiber_household_rate if month else None
    full_online = month.full_online_rate if month else None
    period = vn_period(month.period if month else h.dead_zone_period)
    cards = [
        ("tasks", "Nhiệm vụ Trung ương đã hoàn thành", "Central tasks completed (Resolution 57)",
         f'<span data-kpi="tasks_completed">{_e(vn_number(h.tasks_completed))}</span>'
         f'<small> / <span data-kpi="tasks_total">{_e(vn_number(h.tasks_total))}</span></small>',
         f'<span data-kpi="tasks_not_completed">{_e(vn_number(h.tasks_not_completed))}</span> '
         "chưa hoàn thành · "
         f"not completed · {_e(vn_pct(h.task_completion_rate))}"),
        ("dead_zone_villages", f"Thôn lõm sóng, trắng sóng ({vn_period(h.dead_zone_period)})",
         "Dead-zone villages: no or weak mobile signal",
         f'<span data-kpi="dead_zone_villages">{_e(vn_number(h.dead_zone_villages))}</span>', ""),
        ("fibre", f"Hộ gia đình có cáp quang ({period})", "Households with fibre",
         f'<span data-kpi="fiber_household_rate">{_e(vn_pct(fibre))}</span>', ""),
        ("skills", f"Bình dân học vụ số ({vn_period(h.skills_period)})",
         "Digital-skills coverage: basic course completed",
         f'<span data-kpi="skills_coverage_rate">{_e(vn_pct(h.skills_coverage_rate, 2))}</span>',
         "dân số / of the population"),
        ("full_online", f"Dịch vụ công trực tuyến toàn trình ({period})", "Full-online public services",
         f'<span data-kpi="full_online_rate">{_e(vn_pct(full_online))}</span>', "hồ sơ / of dossiers"),
        ("reporting", f"Tỷ lệ báo cáo ({vn_period(h.reporting_period)})", "Reporting rate",
         f'<span data-kpi="reporting_rate">{_e(vn_pct(h.reporting_rate))}</span>',
         f"đúng hạn / on time: {_e(vn_pct(h.reporting_rate_on_time))}"),
    ]
    return "".join(
        f'<div class="card" id="card-{key}"><div class="label">{_e(vi)}<span class="en">{_e(en)}</span>'
        f'</div><div class="value">{value}</div><div class="sub">{sub}</div></div>'
        for key, vi, en, value, sub in cards
    )


def _cell(text: str, sort_key: object = None, css: str = "") -> str:
    """A table cell; ``sort_key`` (numbers raw, None = empty) is what the sort script compares."""
    key = "" if sort_key is None else f' data-sort="{_e(sort_key)}"'
    cls = f' class="{css}"' if css else ""
    return f"<td{key}{cls}>{text}</td>"


def _scorecard_row(row: dict[str, Any]) -> str:
    status = row["status"]
    badge = (f'<span class="badge {_e(status)}">{_e(STATUS_LABELS.get(status, status))}</span>'
             if status else "—")
    cells = [
        _cell(_e(row["unit_code"])),
        _cell(_e(row["unit_name"])),
        _cell(_e(UNIT_TYPE_LABELS.get(row["unit_type"], row["unit_type"]))),
        _cell(badge, STATUS_ORDER.get(status, 3)),
        _cell(_e(vn_pct(row["reporting_rate"])), row["reporting_rate"], "num"),
        _cell(_e(vn_number(row["dead_zone_villages"])), row["dead_zone_villages"], "num"),
        _cell(_e(vn_pct(row["fiber_household_rate"])), row["fiber_household_rate"], "num"),
        _cell(_e(vn_pct(row["coverage_rate"], 2)), row["coverage_rate"], "num"),
        _cell(_e(vn_pct(row["full_online_rate"])), row["full_online_rate"], "num"),
        _cell(_e(vn_number(row["tasks_overdue"])), row["tasks_overdue"], "num"),
        _cell(_e(_reasons_text(row["status_reasons"])), None, "reasons"),
    ]
    return f'<tr data-status="{_e(status)}">{"".join(cells)}</tr>'


SCORECARD_HEADERS = (
    ("Mã", "Code"), ("Xã, phường", "Commune / ward"), ("Loại", "Type"),
    ("Đánh giá", "Status"), ("Báo cáo", "Reporting"), ("Thôn lõm sóng", "Dead zones"),
    ("Cáp quang", "Fibre"), ("BDHVS", "Digital skills"), ("DVC toàn trình", "Full online"),
    ("NV quá hạn", "Overdue tasks"), ("Lý do", "Reasons"),
)


def _thead(headers: Sequence[tuple[str, str]]) -> str:
    return "<thead><tr>" + "".join(
        f'<th scope="col">{_e(vi)}<span class="en">{_e(en)}</span></th>' for vi, en in headers
    ) + "</tr></thead>"


def render_scorecard(rows: list[dict[str, Any]]) -> str:
    """Status counts and the sortable table of communes."""
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in STATUS_ORDER}
    chips = "".join(
        f'<span class="badge {s}"><strong data-status-count="{s}">{counts[s]}</strong> '
        f"{_e(STATUS_LABELS[s])}</span>"
        for s in ("green", "yellow", "red")
    )
    body = "".join(_scorecard_row(r) for r in rows) or (
        f'<tr><td colspan="{len(SCORECARD_HEADERS)}">Không có dữ liệu / no data</td></tr>')
    return (
        f'<p class="chips">{chips} <span class="muted">trên / of {len(rows)} xã, phường · '
        "bấm tiêu đề cột để sắp xếp / click a column header to sort</span></p>"
        f'<div class="scroll"><table class="sortable" id="scorecard">{_thead(SCORECARD_HEADERS)}'
        f"<tbody>{body}</tbody></table></div>"
    )


def render_not_received(data: ReportData) -> str:
    """Units that did not report (by period) and units the pipeline could not reach tonight."""
    parts = []
    if data.unreachable:
        items = "".join(
            f"<li><strong>{_e(u['unit_code'])}</strong> "
            f"<span class=\"muted\">{_e(u['pull_error'])}</span></li>"
            for u in data.unreachable
        )
        parts.append(
            f'<div class="alert"><strong>Không lấy được số liệu đêm nay / Not reachable tonight: '
            f'{len(data.unreachable)}</strong><ul>{items}</ul></div>'
        )
    if not data.not_received:
        parts.append('<p class="ok">Tất cả đơn vị đã báo cáo / every expected report was received.</p>')
        return "".join(parts)
    headers = (("Kỳ", "Period"), ("Mã", "Code"), ("Đơn vị", "Unit"), ("Báo cáo còn thiếu", "Missing"))
    body = "".join(
        "<tr>"
        + _cell(_e(vn_period(r["period"])), r["period"])
        + _cell(_e(r["unit_code"]))
        + _cell(_e(r["unit_name"]))
        + _cell(_e(", ".join(FORM_LABELS.get(f, f) for f in r["forms"])))
        + "</tr>"
        for r in data.not_received
    )
    parts.append(
        f'<p><strong data-count="not-received">{len(data.not_received)}</strong> lượt đơn vị chưa nộp '
        "đủ báo cáo theo kỳ / unit-periods with a report missing.</p>"
        f'<div class="scroll short"><table class="sortable" id="not-received">{_thead(headers)}'
        f"<tbody>{body}</tbody></table></div>"
    )
    return "".join(parts)


def render_quarantine(rows: list[dict[str, Any]]) -> str:
    """The quarantined submission versions, folded (their reasons are long)."""
    if not rows:
        return '<p class="ok">Không có báo cáo bị cách ly / no quarantined submissions.</p>'
    headers = (("Mã báo cáo", "Submission"), ("Phiên bản", "Version"), ("Đơn vị", "Unit"),
               ("Biểu mẫu", "Form"), ("Kỳ", "Period"), ("Lý do", "Reasons"))
    body = "".join(
        "<tr>"
        + _cell(_e(r["submission_id"]))
        + _cell(_e(r["version"]), r["version"], "num")
        + _cell(_e(r["unit_code"]))
        + _cell(_e(FORM_LABELS.get(r["form"], r["form"])))
        + _cell(_e(r["period"]))
        + _cell(_e(r["reasons"]), None, "reasons")
        + "</tr>"
        for r in rows
    )
    return (
        f'<details><summary><strong data-count="quarantine">{len(rows)}</strong> phiên bản báo cáo bị '
        "cách ly, không được tính / submission versions quarantined, not counted</summary>"
        f'<div class="scroll short"><table class="sortable" id="quarantine">{_thead(headers)}'
        f"<tbody>{body}</tbody></table></div></details>"
    )


def _doc_link(report_dir: Path, relative: str, vi: str, en: str) -> str:
    """A link to documentation beside the report, or a note that it is not built yet."""
    label = f"<strong>{_e(vi)}</strong><span class=\"en\">{_e(en)}</span>"
    if (report_dir / relative).is_file():
        return f'<li><a href="{_e(relative)}">{label}</a></li>'
    return (f'<li>{label} <span class="muted" data-missing="{_e(relative)}">'
            "chưa tạo / not built yet</span></li>")


def render_links(report_dir: Path) -> str:
    """Links to the data-quality and model documentation and to the published files."""
    return "<ul class=\"links\">" + "".join([
        _doc_link(report_dir, GX_DOCS_PATH, "Kiểm tra chất lượng dữ liệu",
                  "Great Expectations Data Docs"),
        _doc_link(report_dir, DBT_DOCS_PATH, "Mô tả mô hình dữ liệu", "dbt docs (models and lineage)"),
        "<li><strong>serving.duckdb</strong><span class=\"en\">the published marts for BI tools "
        "(schema <code>marts</code>, open read-only)</span></li>",
        '<li><a href="marts/"><strong>marts/*.parquet</strong></a><span class="en">the same marts as '
        "Parquet files</span></li>",
    ]) + "</ul>"


SORT_SCRIPT = """
(function () {
  // A cell sorts by its data-sort value (numbers when they parse) or else by its text.
  function key(cell) {
    var v = cell.getAttribute("data-sort");
    if (v === null) { return cell.textContent.trim(); }
    return v !== "" && isFinite(Number(v)) ? Number(v) : v;
  }
  function compare(x, y) {
    if (typeof x === "number" && typeof y === "number") { return x - y; }
    return String(x).localeCompare(String(y), "vi");
  }
  function sortBy(table, th, index) {
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(th.parentNode.cells, function (c) { c.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[index]), y = key(b.cells[index]);
      if (x === y) { return 0; }
      if (x === "") { return 1; }
      if (y === "") { return -1; }
      return ascending ? compare(x, y) : compare(y, x);
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortBy(table, th, index); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, th, index); }
      });
    });
  });
  document.documentElement.setAttribute("data-sortable", "ready");
})();
"""

STYLE = """
:root{--ink:#1d2733;--muted:#5b6776;--line:#d9dee5;--bg:#f4f6f9;--accent:#0b5cad;
--green:#1e7b34;--yellow:#9a6700;--red:#b42318}
*{box-sizing:border-box}
body{font-family:"Noto Sans","DejaVu Sans","Liberation Sans",Arial,sans-serif;margin:0;color:var(--ink);
background:var(--bg);font-size:15px;line-height:1.45}
header{background:#0d2f57;color:#fff;padding:1.4rem 2rem 1.2rem;border-bottom:4px solid #c8102e}
header h1{margin:0;font-size:1.6rem}
header .en{color:#c9d6e6}
header p{margin:.35rem 0 0}
nav{margin-top:.8rem;font-size:.9rem}
nav a{color:#fff;margin-right:1.1rem}
main{padding:1.2rem 2rem 2rem;max-width:1400px;margin:0 auto}
h2{font-size:1.2rem;margin:1.8rem 0 .6rem;border-bottom:2px solid var(--line);padding-bottom:.3rem}
.en{display:block;font-size:.78em;color:var(--muted);font-weight:400}
h2 .en,figcaption .en{display:inline;margin-left:.5rem}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(205px,1fr));gap:.8rem}
.card{background:#fff;border:1px solid var(--line);border-radius:10px;padding:.8rem 1rem;
border-top:4px solid var(--accent)}
.card .label{font-size:.85rem;font-weight:600;min-height:2.6em}
.card .value{font-size:2.1rem;font-weight:700;margin:.2rem 0;color:#0d2f57}
.card .value small{font-size:1.1rem;color:var(--muted)}
.card .sub{font-size:.8rem;color:var(--muted)}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:.8rem}
.panel{background:#fff;border:1px solid var(--line);border-radius:10px;margin:0;padding:.7rem .9rem}
figcaption{font-size:.9rem;margin-bottom:.3rem}
svg.chart{width:100%;height:auto;display:block}
svg .grid{stroke:#e6e9ee;stroke-width:1} svg .grid.base{stroke:#9aa5b1}
svg .axis{font-size:11px;fill:#5b6776} svg .value{font-size:12px;fill:#1d2733;font-weight:600}
.chips{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}
.badge{display:inline-block;border-radius:999px;padding:.1rem .6rem;font-size:.8rem;white-space:nowrap;
border:1px solid transparent}
.badge.green{background:#e3f4e7;color:var(--green);border-color:#b7e0c1}
.badge.yellow{background:#fff4d6;color:var(--yellow);border-color:#f1d58a}
.badge.red{background:#fde8e6;color:var(--red);border-color:#f5b8b1}
.scroll{max-height:560px;overflow:auto;border:1px solid var(--line);border-radius:8px;background:#fff}
.scroll.short{max-height:360px}
table{border-collapse:collapse;width:100%;font-size:.82rem}
th{position:sticky;top:0;background:#eef2f7;text-align:left;padding:.4rem .5rem;cursor:pointer;
border-bottom:1px solid var(--line);vertical-align:bottom;user-select:none}
th[aria-sort=ascending]::after{content:" ▲";font-size:.7em}
th[aria-sort=descending]::after{content:" ▼";font-size:.7em}
td{padding:.3rem .5rem;border-bottom:1px solid #eef0f3;vertical-align:top}
tr:nth-child(even) td{background:#fafbfc}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.reasons{color:var(--muted);max-width:34rem;white-space:pre-wrap}
.muted{color:var(--muted)} .ok{color:var(--green)}
.alert{background:#fde8e6;border:1px solid #f5b8b1;border-radius:8px;padding:.6rem 1rem;margin-bottom:.8rem}
details summary{cursor:pointer;margin-bottom:.5rem}
ul.links{list-style:none;padding:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));
gap:.6rem}
ul.links li{background:#fff;border:1px solid var(--line);border-radius:8px;padding:.6rem .8rem}
footer{color:var(--muted);font-size:.8rem;padding:1rem 2rem 2rem;max-width:1400px;margin:0 auto}
@media print{header{background:#fff;color:#000}nav{display:none}.scroll{max-height:none;overflow:visible}
th{position:static}}
"""


def _script_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def render_page(data: ReportData, report_dir: Path, generated_at: datetime) -> str:
    """The whole report page."""
    h = data.headline
    csp = (f"default-src 'none'; style-src 'unsafe-inline'; script-src '{_script_hash(SORT_SCRIPT)}'; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    return f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chuyển đổi số tỉnh Phú Thọ — {_e(vn_date(h.as_of_date))}</title>
<style>{STYLE}</style></head><body>
<header>
<h1>Báo cáo chuyển đổi số tỉnh Phú Thọ<span class="en">Phú Thọ province — digital transformation,
nightly report for the Steering Committee</span></h1>
<p>Tình hình đến ngày <strong id="as-of" data-as-of="{_e(h.as_of_date)}">{_e(vn_date(h.as_of_date))}</strong>
<span class="en">Status on {_e(h.as_of_date)}</span></p>
<nav><a href="#headline">Chỉ tiêu chính</a><a href="#trends">Xu hướng</a>
<a href="#communes">Xã, phường</a><a href="#not-reported">Chưa báo cáo</a>
<a href="#quality">Chất lượng dữ liệu</a><a href="#docs">Tài liệu</a></nav>
</header>
<main>
<section id="headline"><h2>Chỉ tiêu chính<span class="en">Headline KPIs</span></h2>
<div class="cards">{render_cards(data)}</div></section>
<section id="trends"><h2>Xu hướng<span class="en">Trends</span></h2>
<div class="charts">{render_charts(data)}</div></section>
<section id="communes"><h2>Đánh giá xã, phường<span class="en">Commune scorecard</span></h2>
{render_scorecard(data.scorecard)}</section>
<section id="not-reported"><h2>Đơn vị chưa báo cáo<span class="en">Units that did not report</span></h2>
{render_not_received(data)}</section>
<section id="quality"><h2>Báo cáo bị cách ly<span class="en">Quarantined submissions</span></h2>
{render_quarantine(data.quarantine)}</section>
<section id="docs"><h2>Tài liệu và dữ liệu<span class="en">Documentation and data</span></h2>
{render_links(report_dir)}</section>
</main>
<footer>Nguồn: kho dữ liệu đã công bố (serving.duckdb) · Source: the published warehouse ·
Tạo lúc / generated {_e(generated_at.strftime("%d/%m/%Y %H:%M"))} ({_e(LOCAL_TZ)})</footer>
<script>{SORT_SCRIPT}</script>
</body></html>
"""


def write_report(serving_db: Path, report_path: Path, as_of_date: str) -> Path:
    """Write the steering committee's HTML report for ``as_of_date``; return its path.

    Reads the published ``serving_db`` read-only, in one connection (one consistent snapshot),
    and replaces ``report_path`` atomically. The links to GX Data Docs and dbt docs point beside
    the report; those not built yet when the report is written say so.
    """
    con = duckdb.connect(str(serving_db), read_only=True)
    try:
        data = read_report_data(con, as_of_date)
    finally:
        con.close()
    page = render_page(data, report_path.parent, datetime.now(ZoneInfo(LOCAL_TZ)))
    tmp = report_path.with_name(f".{report_path.name}.{os.getpid()}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, report_path)
    return report_path
