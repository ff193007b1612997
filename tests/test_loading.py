"""The load's helpers on a real DuckDB file."""

from __future__ import annotations

import duckdb

from commune_dx.loading import RAW_DDL, content_hash, stored_content_hashes


def test_stored_content_hashes_names_only_versions_already_stored(tmp_path):
    db = tmp_path / "warehouse.duckdb"
    records = ['{"a": 1}', '{"a": 2}', '{"a": 3}']
    hashes = [content_hash(r) for r in records]
    assert stored_content_hashes(db, hashes) == set()  # no warehouse yet
    assert not db.exists()  # and asking does not create one

    con = duckdb.connect(str(db))
    con.execute("CREATE SCHEMA raw")
    con.close()
    assert stored_content_hashes(db, hashes) == set()  # no raw tables yet

    con = duckdb.connect(str(db))
    con.execute(RAW_DDL)
    con.execute(
        "INSERT INTO raw.submission_versions (submission_id, version, record, content_hash, "
        "pulled_at, run_id) VALUES ('s1', 1, ?, ?, now(), 'r1'), ('s9', 1, '{}', 'other', now(), 'r1')",
        [records[0], hashes[0]],
    )
    con.close()
    assert stored_content_hashes(db, hashes + [hashes[0]]) == {hashes[0]}
    assert stored_content_hashes(db, []) == set()
