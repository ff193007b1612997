"""Publishing (``commune_dx.publishing``) from a small hand-made working warehouse: the serving
file, Parquet and exports appear together, read-only, with dbt's descriptions; a publish that
fails leaves every published file as it was. Publishing while BI tools read, after real nights,
is checked in ``tests/e2e/test_publish_under_readers.py``."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import duckdb
import pytest

from commune_dx.exports import WORKBOOK_NAME
from commune_dx.publishing import publish_marts
from commune_dx.settings import MART_TABLES


def _working(path: Path, night: int, marts=MART_TABLES) -> Path:
    """A working warehouse whose every mart holds ``night`` in one row, with dbt-like comments."""
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS marts")
        for table in marts:
            con.execute(f"CREATE OR REPLACE TABLE marts.{table} AS "
                        f"SELECT {night} AS night, 'Xã Hòa Bình' AS name")
            con.execute(f"COMMENT ON TABLE marts.{table} IS 'The {table} mart.'")
            con.execute(f"COMMENT ON COLUMN marts.{table}.night IS 'Which night wrote the row.'")
    return path


def _published_state(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture()
def places(tmp_path: Path) -> dict[str, Path]:
    published = tmp_path / "published"
    return {"working": tmp_path / "warehouse.duckdb", "serving_db": published / "serving.duckdb",
            "parquet_dir": published / "marts", "exports_dir": published / "exports", "root": published}


def _publish(places, **options):
    return publish_marts(places["working"], places["serving_db"], places["parquet_dir"],
                         places["exports_dir"], **options)


def test_every_mart_is_published_read_only_with_its_descriptions(places):
    _working(places["working"], night=1)
    assert _publish(places) == dict.fromkeys(MART_TABLES, 1)
    serving = places["serving_db"]
    assert stat.S_IMODE(serving.stat().st_mode) & 0o222 == 0  # a snapshot, not a database to write to
    with duckdb.connect(str(serving), read_only=True) as con:
        assert con.execute("SELECT night, name FROM task_status").fetchall() == [(1, "Xã Hòa Bình")]
        comment = con.execute("SELECT comment FROM duckdb_tables() WHERE schema_name = 'marts' "
                              "AND table_name = 'quarantine'").fetchone()[0]
        metadata = con.execute(
            "SELECT decode(key), decode(value) FROM parquet_kv_metadata(?)",
            [str(places["parquet_dir"] / "quarantine.parquet")]).fetchall()
    assert comment == "The quarantine mart."
    assert ("description.night", "Which night wrote the row.") in metadata
    assert sorted(p.name for p in places["exports_dir"].iterdir()) == sorted(
        [f"{t}.csv" for t in MART_TABLES] + [WORKBOOK_NAME])
    assert not [p for p in places["root"].rglob("*") if ".publish-" in p.name or p.name.endswith(".tmp")]


def test_a_second_publish_replaces_everything_and_drops_a_mart_no_longer_published(places):
    _working(places["working"], night=1, marts=[*MART_TABLES, "retired_mart"])
    _publish(places)
    assert (places["exports_dir"] / "retired_mart.csv").exists()
    with duckdb.connect(str(places["working"])) as con:
        con.execute("DROP TABLE marts.retired_mart")
    _working(places["working"], night=2)
    _publish(places)
    with duckdb.connect(str(places["serving_db"]), read_only=True) as con:
        assert {con.execute(f"SELECT night FROM marts.{t}").fetchone()[0] for t in MART_TABLES} == {2}
    parquet = places["parquet_dir"] / "reporting_rate.parquet"
    assert duckdb.sql(f"SELECT night FROM '{parquet}'").fetchall() == [(2,)]
    assert not (places["exports_dir"] / "retired_mart.csv").exists()


@pytest.mark.parametrize("failure", ["missing mart", "fails mid-export"])
def test_a_failed_publish_leaves_every_published_file_as_it_was(places, failure):
    _working(places["working"], night=1)
    _publish(places)
    before = _published_state(places["root"])
    _working(places["working"], night=2)
    if failure == "missing mart":
        with duckdb.connect(str(places["working"])) as con:
            con.execute("DROP TABLE marts.unit_fix_list")
        with pytest.raises(RuntimeError, match="lacks mart.s. unit_fix_list: dbt build did not produce them"):
            _publish(places)
    else:
        with pytest.raises(RuntimeError, match="fault injected after exporting phase_status"):
            _publish(places, fail_after_exporting="phase_status")
    assert _published_state(places["root"]) == before
    assert os.access(places["serving_db"], os.R_OK)
