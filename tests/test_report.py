"""The report and the terminal summary over a small hand-made warehouse of the contract-1.1 marts
(tests/report_warehouse.py): the title rule, the summary's lines, the new sections (Green status
by phase, watchlist, staff and security, failed pulls, exports), escaping of hostile text, "no
data" for a mart not published, and a headless-Chromium render with a screenshot."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from markupsafe import escape

from commune_dx.report import format_summary, read_night, write_report
from tests.chromium import console_messages, elements, run_chromium
from tests.report_warehouse import AS_OF, CONTRACT_1_1_MARTS, EARLIER, HOSTILE, build_warehouse


def _report(tmp_path: Path, provinces: tuple[str, ...] = ("25", "99"), without: tuple[str, ...] = ()) -> str:
    db = build_warehouse(tmp_path / "serving.duckdb", provinces, without)
    return write_report(db, tmp_path / "report.html", AS_OF).read_text(encoding="utf-8")


def _summary(tmp_path: Path, provinces: tuple[str, ...] = ("25", "99"), without: tuple[str, ...] = (),
             as_of: str = AS_OF) -> list[str]:
    db = build_warehouse(tmp_path / "summary.duckdb", provinces, without)
    con = duckdb.connect(str(db), read_only=True)
    try:
        return format_summary(read_night(con, as_of)).splitlines()
    finally:
        con.close()


def _section(page: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', page, re.S)
    assert match, f"no section {section_id}"
    return match.group(1)


def _table(page: str, table_id: str) -> str:
    match = re.search(rf'<table[^>]* id="{table_id}">(.*?)</table>', page, re.S)
    assert match, f"no table {table_id}"
    return match.group(1)


def test_title_is_the_one_province(tmp_path):
    page = _report(tmp_path, ("25",))
    assert 'data-place="Tỉnh Phú Thọ"' in page
    assert "<title>Chuyển đổi số — Tỉnh Phú Thọ — 21/09/2025</title>" in page
    assert 'id="provinces"' not in page
    assert re.search(r'data-kpi="tasks_completed">3<.*data-kpi="tasks_total">5<', page, re.S)
    assert 'data-kpi="reporting_rate">85,0%<' in page


def test_title_is_the_country_with_a_row_per_province(tmp_path):
    page = _report(tmp_path)
    assert 'data-place="Việt Nam"' in page and "Tỉnh Phú Thọ digital" not in page
    rows = re.findall(r'<tr data-province="([^"]*)">', _table(page, "provinces"))
    assert rows == ["25", "99"]
    assert 'data-kpi="tasks_total">8<' in page  # task_completion's central row: every province


def test_summary_of_one_province(tmp_path):
    assert _summary(tmp_path, ("25",)) == [
        "Tỉnh Phú Thọ digital transformation — status on 2025-09-21",
        "  Central tasks (Resolution 57): 5 total, 3 completed, 2 not completed (60.0%)",
        "  Dead-zone villages (no or weak mobile signal), 2025-08: 24",
        "  Digital-skills coverage (Bình dân học vụ số), 2025-08: 2.5% of the population completed "
        "the basic course",
        "  Reporting rate, 2025-08: 85.0% received, 75.0% on time",
        "  Quarantined submission versions: 0",
        "  phase 1 — province Green since 15/09/2025, communes Green 2/2",
        "  phase 2 — province not Green (agencies Green 0/1), communes Green 0/0",
        "  not completed 2, of which overdue 1",
        "  specialists present in 2 of 3 units",
        "  units that failed to pull: 0",
    ]


def test_summary_of_two_provinces_and_a_failed_pull(tmp_path):
    lines = _summary(tmp_path)
    assert lines[0] == "Việt Nam digital transformation — status on 2025-09-21"
    assert "  Tỉnh Phú Thọ (25):" in lines and f"  Tỉnh {HOSTILE} (99):" in lines
    assert "    Central tasks (Resolution 57): 3 total, 0 completed, 3 not completed" in lines
    assert f"  Tỉnh {HOSTILE}: phase 1 — province not Green (agencies Green 0/1), communes Green 0/1" in lines
    assert "  not completed 5, of which overdue 2" in lines
    assert "  Tỉnh Phú Thọ: specialists present in 2 of 3 units" in lines
    assert lines[-1].startswith("  units that failed to pull: 1 — commonest reasons: <script>alert")


def test_summary_of_an_earlier_night(tmp_path):
    lines = _summary(tmp_path, ("25",), as_of=EARLIER)
    assert lines[0].endswith("status on 2025-09-20")
    assert "  not completed 3, of which overdue 1" in lines
    assert lines[-1] == ("  units that failed to pull: 1 — commonest reasons: "
                         "HTTP 503 from /submissions after 6 attempts ×1")


def test_green_status_by_phase(tmp_path):
    green = _section(_report(tmp_path), "green")
    phases = _table(green, "phases")
    assert re.search(r'data-phase="1" data-province="25">.*?Xanh / Green.*?15/09/2025.*?'
                     r'data-communes-green="2/2"', phases, re.S)
    assert re.search(r'data-phase="1" data-province="99">.*?Chưa Xanh / not Green.*?'
                     r'data-communes-green="0/1"', phases, re.S)
    not_green = _table(green, "not-green")
    assert re.findall(r'<tr data-unit="([^"]*)">', not_green) == ["A99-X", "C99-A", "A25-X"]
    commune = not_green[not_green.index('data-unit="C99-A"'):not_green.index('data-unit="A25-X"')]
    assert "0/2" in commune and "T99-1" in commune and "T99-2" in commune and "quá hạn / overdue" in commune
    assert "T25-" not in commune


def test_watchlist_by_responsible_unit_overdue_first(tmp_path):
    watchlist = _section(_report(tmp_path), "watchlist")
    assert re.findall(r'<details class="panel" data-unit="([^"]*)"', watchlist) == ["C99-A", "A25-X"]
    risks = re.findall(r'<tr data-risk="([^"]*)">.*?<strong>([^<]*)</strong>', watchlist, re.S)
    assert risks == [("overdue", "T99-1"), ("at_risk", "T99-2"), ("overdue", "T25-4")]
    assert 'data-days-late="20"' in watchlist and "20 days late" in watchlist
    assert "T25-3" not in watchlist and "T99-3" not in watchlist  # on track
    assert "Số hoá hồ sơ" in watchlist  # the title, from task_status
    assert "Sở Khoa học và Công nghệ" in watchlist  # an agency's name, from reporting_completeness


def test_staff_and_security(tmp_path):
    capacity = _section(_report(tmp_path), "capacity")
    assert "2025-Q3" in capacity
    assert 'data-specialists="2/3"' in capacity and 'data-specialists="0/1"' in capacity
    for key in ("no_specialist", "no_steering_committee", "systems_not_approved", "open_vulnerabilities"):
        assert f'data-count="{key}">2<' in capacity, key
    (tmp_path / "one").mkdir()
    one = _section(_report(tmp_path / "one", ("25",)), "capacity")
    assert 'data-count="no_specialist">1<' in one and "C25-B" in one and "C99-A" not in one


def test_failed_pulls_are_counted_and_listed(tmp_path):
    failures = _section(_report(tmp_path), "pull-failures")
    assert 'data-count="pull-failures" data-value="1"' in failures
    assert "Not reachable tonight: 1" in failures
    assert re.findall(r"<tr><td>([^<]*)</td>", failures) == ["C99-A"]


def test_the_scorecard_is_not_called_green(tmp_path):
    """``Xanh`` (the national Green status) names phase_status only, never the product's scorecard."""
    page = _report(tmp_path)
    scorecard = _table(page, "scorecard")
    assert "xanh" not in scorecard.lower()
    assert "Đạt / On track" in scorecard and "BDHVS: cần chú ý" in scorecard
    assert "không phải</strong> trạng thái Xanh" in _section(page, "communes")


def test_marts_not_published_show_no_data(tmp_path):
    page = _report(tmp_path, ("25",), without=(*CONTRACT_1_1_MARTS, "unit_pull_status"))
    for mart in ("phase_summary", "phase_status", "task_watchlist", "capacity_province_quarterly",
                 "unit_pull_status", "province_kpis"):
        assert f'data-no-mart="{mart}"' in page, mart
    # the headline reads province_kpis only: without it, dashes rather than figures from elsewhere
    assert 'data-kpi="tasks_total">—<' in page and 'data-kpi="dead_zone_villages">—<' in page
    lines = _summary(tmp_path, ("25",), without=(*CONTRACT_1_1_MARTS, "unit_pull_status"))
    assert "  Green status by phase: no data (mart phase_summary not published)" in lines
    assert "  units that failed to pull: no data (mart unit_pull_status not published)" in lines


def test_links_to_the_exports_when_they_exist(tmp_path):
    page = _report(tmp_path)
    assert 'data-missing="exports/marts.xlsx"' in page and 'href="exports/' not in page
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "marts.xlsx").write_bytes(b"PK")
    (exports / "task_status.csv").write_text("task_code\n", encoding="utf-8")
    page = write_report(tmp_path / "serving.duckdb", tmp_path / "report.html", AS_OF).read_text("utf-8")
    assert 'href="exports/marts.xlsx"' in page and 'href="exports/task_status.csv"' in page
    assert 'data-missing="exports/marts.xlsx"' not in page


def test_hostile_text_is_escaped_and_the_page_renders_in_chromium(tmp_path):
    page = _report(tmp_path)
    assert "<script>alert" not in page and "<img" not in page and "<b>Lõm" not in page
    # province name (title table, green, capacity), unit names, pull error, task title, quarantine
    assert page.count(str(escape(HOSTILE))) >= 10
    report = tmp_path / "report.html"
    shot = tmp_path / "report-contract-1.1.png"
    done = run_chromium(report, f"--screenshot={shot}", "--window-size=1400,4200")
    assert shot.exists(), done.stderr[-3000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
    assert console_messages(done.stderr) == []
    print(f"report screenshot (contract 1.1 fixture): {shot}")
    dom = run_chromium(report, "--dump-dom")
    assert console_messages(dom.stderr) == []  # nothing ran but the pinned script, nothing was refused
    assert 'data-sortable="ready"' in dom.stdout
    tags = [tag for tag, _ in elements(dom.stdout)]
    assert tags.count("script") == 1 and "img" not in tags and "b" not in tags


def _cli_summary(warehouse: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WAREHOUSE_DIR": str(warehouse)}
    return subprocess.run([sys.executable, "-m", "commune_dx.cli", "summary", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def warehouse(tmp_path) -> Path:
    build_warehouse(tmp_path / "serving.duckdb", ("25",))
    return tmp_path


def test_cli_summary_shows_the_latest_night_or_the_one_asked(warehouse):
    latest = _cli_summary(warehouse)
    assert latest.returncode == 0, latest.stderr
    assert "status on 2025-09-21" in latest.stdout and "communes Green 2/2" in latest.stdout
    earlier = _cli_summary(warehouse, "--as-of", EARLIER)
    assert earlier.returncode == 0, earlier.stderr
    assert "status on 2025-09-20" in earlier.stdout and "units that failed to pull: 1" in earlier.stdout
    unknown = _cli_summary(warehouse, "--as-of", "2025-01-01")
    assert unknown.returncode == 2
    assert "no night as of 2025-01-01 (nights published: 2025-09-20 … 2025-09-21)" in unknown.stdout


def test_a_warehouse_without_rows_yet(tmp_path):
    """Every contract-1.1 mart published but empty (a first night before any report came in)."""
    db = build_warehouse(tmp_path / "serving.duckdb")
    con = duckdb.connect(str(db))
    try:
        for (table,) in con.execute("SELECT table_name FROM information_schema.tables "
                                    "WHERE table_schema = 'marts'").fetchall():
            con.execute(f"DELETE FROM marts.{table}")
    finally:
        con.close()
    page = write_report(db, tmp_path / "report.html", AS_OF).read_text("utf-8")
    assert page.count("no data yet") == 6  # the six trend charts
    assert 'data-kpi="tasks_total">—<' in page and "data-no-mart" not in page
    con = duckdb.connect(str(db), read_only=True)
    try:
        lines = format_summary(read_night(con, AS_OF)).splitlines()
    finally:
        con.close()
    assert lines[0] == "— digital transformation — status on 2025-09-21"
    assert "  not completed —, of which overdue —" in lines and "  units that failed to pull: 0" in lines
    assert "  Green status by phase: no task has a phase yet" in lines
    assert "  specialists: no quarterly capacity report yet" in lines
