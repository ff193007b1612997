"""The KPI summary (terminal) and the nightly HTML report, both read from ``serving.duckdb``.

The report is one self-contained HTML file (no scripts or fonts from the internet); every text
that comes from submissions or the portal is escaped.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb


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


def _table(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> str:
    cursor = con.execute(sql, params or [])
    headers = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(serving_db: Path, report_path: Path, as_of_date: str) -> Path:
    """Write the steering committee's HTML report for ``as_of_date``; return its path."""
    con = duckdb.connect(str(serving_db), read_only=True)
    try:
        h = read_headline(con, as_of_date)
        communes = _table(
            con,
            "SELECT * FROM marts.commune_scorecard WHERE as_of_date = ? ORDER BY unit_code",
            [as_of_date],
        )
        not_received = _table(
            con,
            "SELECT period, form, unit_code FROM marts.reporting_completeness "
            "WHERE NOT received ORDER BY period DESC, form, unit_code",
        )
        quarantine = _table(
            con,
            "SELECT submission_id, version, unit_code, form, period, reasons "
            "FROM marts.quarantine ORDER BY first_seen_at, submission_id, version",
        )
    finally:
        con.close()
    cards = [
        ("Nhiệm vụ Trung ương hoàn thành / Central tasks completed",
         f"{h.tasks_completed} / {h.tasks_total}"),
        ("Chưa hoàn thành / Not completed", str(h.tasks_not_completed)),
        (f"Thôn lõm sóng, trắng sóng / Dead-zone villages ({h.dead_zone_period})",
         str(h.dead_zone_villages)),
        (f"Bình dân học vụ số / Digital-skills coverage ({h.skills_period})",
         _pct(h.skills_coverage_rate)),
        (f"Tỷ lệ báo cáo / Reporting rate ({h.reporting_period})", _pct(h.reporting_rate)),
    ]
    card_html = "".join(
        f'<div class="card"><div class="label">{html.escape(label)}</div>'
        f'<div class="value">{html.escape(value)}</div></div>'
        for label, value in cards
    )
    page = f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<title>Chuyển đổi số Phú Thọ — {html.escape(as_of_date)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem;color:#222}}
.cards{{display:flex;flex-wrap:wrap;gap:1rem}}
.card{{border:1px solid #ccc;border-radius:8px;padding:1rem;min-width:14rem}}
.label{{font-size:.85rem;color:#555}} .value{{font-size:1.8rem;font-weight:600}}
table{{border-collapse:collapse;font-size:.8rem;margin:1rem 0}}
td,th{{border:1px solid #ddd;padding:2px 6px;text-align:left}}
</style></head><body>
<h1>Chuyển đổi số tỉnh Phú Thọ / Phú Thọ digital transformation</h1>
<p>Tình hình đến ngày / Status on <strong id="as-of">{html.escape(as_of_date)}</strong></p>
<div class="cards">{card_html}</div>
<h2>Xã, phường / Communes and wards</h2>{communes}
<h2>Chưa báo cáo / Reports not received</h2>{not_received}
<h2>Báo cáo bị cách ly / Quarantined submissions</h2>{quarantine}
</body></html>
"""
    tmp = report_path.with_name(report_path.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, report_path)
    return report_path
