"""The Steering Committee's nightly HTML report of the session's clean demo night: the right
numbers, self-contained, every text from submissions escaped, and rendered without errors by a
real browser (Debian's headless Chromium, which ``make test`` installs). The screenshot is kept
under ``data/warehouse/screenshots/``."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import shutil
from pathlib import Path

import duckdb
import pytest
from markupsafe import escape

from commune_dx.report import (
    DBT_DOCS_PATH,
    GX_DOCS_PATH,
    SORT_SCRIPT,
    format_summary,
    read_night,
    write_report,
)
from commune_dx.settings import REPO_ROOT
from tests.chromium import console_messages, elements, run_chromium

pytestmark = pytest.mark.e2e
AS_OF = "2025-09-21"
SCREENSHOT = REPO_ROOT / "data" / "warehouse" / "screenshots" / f"report-{AS_OF}.png"
HOSTILE = '<script>alert("x")</script><img src=x onerror="alert(1)"> & "Xã <b>Lõm</b>" \'1\'=\'1\''


@pytest.fixture(scope="module")
def night(clean_night) -> Path:
    """The warehouse of the suite's reference night (2025-09-21): this module only reads it."""
    warehouse, result = clean_night
    assert result.returncode == 0, result.output[-4000:]
    return warehouse


def kpi(document: str, name: str) -> str:
    match = re.search(rf'data-kpi="{name}">([^<]*)<', document)
    assert match, f"no data-kpi={name} in the report"
    return match.group(1)


def test_report_shows_the_headline_numbers(night):
    page = (night / "report.html").read_text(encoding="utf-8")
    assert 'data-as-of="2025-09-21"' in page
    assert (kpi(page, "tasks_total"), kpi(page, "tasks_completed"), kpi(page, "tasks_not_completed")) == (
        "135", "79", "56")
    assert kpi(page, "dead_zone_villages") == "24"
    assert "58,5%" in page
    for chart in ("Central tasks completed", "Dead-zone villages", "Fibre household coverage",
                  "Digital-skills coverage", "Full-online public-service rate"):
        assert f'aria-label="{chart}"' in page, chart


def test_terminal_summary_is_unchanged(night):
    con = duckdb.connect(str(night / "serving.duckdb"), read_only=True)
    try:
        summary = format_summary(read_night(con, AS_OF))
    finally:
        con.close()
    assert "135 total, 79 completed, 56 not completed" in summary
    assert "2025-08: 24" in summary


def test_report_is_self_contained(night):
    page = (night / "report.html").read_text(encoding="utf-8")
    tags = elements(page)
    links = [attrs.get("href") or "" for tag, attrs in tags if tag == "a"]
    assert all(not re.match(r"[a-z]+:", link) for link in links), links
    assert [tag for tag, attrs in tags if "src" in attrs] == []
    assert [tag for tag, _ in tags if tag in ("link", "iframe", "object", "embed", "img")] == []
    assert "url(" not in page and "@import" not in page
    digest = base64.b64encode(hashlib.sha256(SORT_SCRIPT.encode()).digest()).decode()
    csp = next(attrs["content"] or "" for _, attrs in tags
               if attrs.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp and f"'sha256-{digest}'" in csp


def test_report_renders_in_chromium(night, tmp_path):
    report = night / "report.html"
    shot = tmp_path / SCREENSHOT.name
    done = run_chromium(report, f"--screenshot={shot}", "--window-size=1400,2000")
    assert shot.exists(), done.stderr[-3000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
    assert console_messages(done.stderr) == []
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, SCREENSHOT)
    print(f"report screenshot: {SCREENSHOT}")
    dom = run_chromium(report, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-3000:]
    assert console_messages(dom.stderr) == []
    assert 'data-sortable="ready"' in dom.stdout  # the inline script ran under the page's CSP
    assert (kpi(dom.stdout, "tasks_completed"), kpi(dom.stdout, "tasks_total")) == ("79", "135")
    assert kpi(dom.stdout, "tasks_not_completed") == "56"
    assert kpi(dom.stdout, "dead_zone_villages") == "24"
    assert dom.stdout.count('<tr data-status="') == 148


SORT_PROBE = """<script>
(function () {
  var table = document.getElementById("scorecard");
  var head = table.tHead.rows[0].cells;
  function column(i) {
    return Array.prototype.map.call(table.tBodies[0].rows, function (r) {
      return r.cells[i].getAttribute("data-sort");
    });
  }
  head[4].click(); var ascending = column(4);
  head[4].click(); var descending = column(4);
  var out = document.createElement("pre");
  out.id = "sort-probe";
  out.textContent = JSON.stringify({ascending: ascending, descending: descending,
                                    aria: head[4].getAttribute("aria-sort")});
  document.body.appendChild(out);
})();
</script></body>"""


def test_scorecard_table_sorts_in_chromium(night, tmp_path):
    """Click the reporting-rate header twice (in a copy of the page with a probe script added)."""
    page = (night / "report.html").read_text(encoding="utf-8")
    page = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page)
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", SORT_PROBE), encoding="utf-8")
    dom = run_chromium(probe, "--dump-dom")
    assert console_messages(dom.stderr) == []
    match = re.search(r'<pre id="sort-probe">(.*?)</pre>', dom.stdout, re.S)
    assert match, dom.stderr[-3000:]
    result = json.loads(html.unescape(match.group(1)))
    assert result["aria"] == "descending"
    for order, reverse in (("ascending", False), ("descending", True)):
        values = result[order]
        present = [float(v) for v in values if v]
        assert present == sorted(present, reverse=reverse)
        assert values[len(present):] == [""] * (len(values) - len(present))  # no value: always last


def _hostile_copy(night: Path, target: Path) -> Path:
    """A copy of the published file in which submitted texts try to inject markup."""
    db = target / "serving.duckdb"
    shutil.copy(night / "serving.duckdb", db)
    os.chmod(db, 0o644)
    con = duckdb.connect(str(db))
    try:
        unit = con.execute("SELECT min(unit_code) FROM marts.commune_scorecard").fetchone()[0]
        con.execute("UPDATE marts.commune_scorecard SET unit_name = ?, status_reasons = ? "
                    "WHERE unit_code = ?", [HOSTILE, HOSTILE, unit])
        con.execute("UPDATE marts.quarantine SET reasons = ?", [HOSTILE])
        con.execute("UPDATE marts.reporting_completeness SET unit_name = ? WHERE NOT received", [HOSTILE])
        con.execute("UPDATE marts.unit_pull_status SET pull_outcome = 'failed', pull_error = ? "
                    "WHERE as_of_date = CAST(? AS DATE) AND unit_code = ?", [HOSTILE, AS_OF, unit])
    finally:
        con.close()
    return db


def test_text_from_submissions_is_escaped(night, tmp_path):
    report = write_report(_hostile_copy(night, tmp_path), tmp_path / "report.html", AS_OF)
    page = report.read_text(encoding="utf-8")
    assert "<script>alert" not in page and "<img" not in page and "<b>Lõm" not in page
    assert page.count(str(escape(HOSTILE))) >= 4  # scorecard name and reasons, not received, quarantine
    assert "Not reachable tonight: 1" in page
    dom = run_chromium(report, "--dump-dom")
    assert console_messages(dom.stderr) == []  # nothing ran, nothing was refused
    tags = [tag for tag, _ in elements(dom.stdout)]
    assert tags.count("script") == 1 and "img" not in tags and "b" not in tags
    assert 'alert("x")' in html.unescape(dom.stdout)


def test_documentation_links_say_when_not_built(night, tmp_path):
    report = tmp_path / "report.html"
    bare = write_report(night / "serving.duckdb", report, AS_OF).read_text(encoding="utf-8")
    assert f'data-missing="{GX_DOCS_PATH}"' in bare and f'data-missing="{DBT_DOCS_PATH}"' in bare
    assert f'href="{GX_DOCS_PATH}"' not in bare
    for docs in (GX_DOCS_PATH, DBT_DOCS_PATH):
        (tmp_path / docs).parent.mkdir(parents=True)
        (tmp_path / docs).write_text("<html></html>", encoding="utf-8")
    built = write_report(night / "serving.duckdb", report, AS_OF).read_text(encoding="utf-8")
    assert f'href="{GX_DOCS_PATH}"' in built and f'href="{DBT_DOCS_PATH}"' in built
    assert f'data-missing="{GX_DOCS_PATH}"' not in built and f'data-missing="{DBT_DOCS_PATH}"' not in built


def test_report_of_a_warehouse_without_data_yet(night, tmp_path):
    """Every mart published but empty (a first night before any report came in)."""
    db = tmp_path / "empty.duckdb"
    con = duckdb.connect(str(db))
    try:
        con.execute(f"ATTACH '{night / 'serving.duckdb'}' AS published (READ_ONLY)")
        con.execute("CREATE SCHEMA marts")
        tables = con.execute("SELECT table_name FROM information_schema.tables "
                             "WHERE table_catalog = 'published' AND table_schema = 'marts'").fetchall()
        for (table,) in tables:
            con.execute(f'CREATE TABLE marts."{table}" AS SELECT * FROM published.marts."{table}" LIMIT 0')
    finally:
        con.close()
    page = write_report(db, tmp_path / "report.html", AS_OF).read_text(encoding="utf-8")
    assert page.count("no data yet") == 6
    assert kpi(page, "tasks_total") == "—" and kpi(page, "dead_zone_villages") == "—"
    assert "every expected report was received" in page
