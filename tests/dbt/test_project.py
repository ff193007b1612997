"""The dbt project as a whole on the hand-built raw layer: where the marts live, a rerun of a
night, and a build without an as-of date."""

from __future__ import annotations

import json

from tests.dbt.raw_layer import _dbt_build


def test_marts_live_in_schema_marts(nights):
    schemas = {row["table_schema"] for row in nights["snapshots"]["night_2"]["_schemas"]}
    assert {"raw", "staging", "intermediate", "marts", "reference"} <= schemas
    assert not any(s.startswith("main_") for s in schemas)


def test_rerun_of_a_night_is_idempotent(nights):
    def canonical(rows):
        return sorted(json.dumps(row, default=str, sort_keys=True) for row in rows)

    before = nights["snapshots"]["night_2"]
    after = nights["snapshots"]["night_2_rerun"]
    for mart in before:
        assert canonical(after[mart]) == canonical(before[mart]), mart


def test_build_without_as_of_date_fails_clearly(nights):
    result, _ = _dbt_build(nights["warehouse_dir"], nights["work_dir"], None)
    assert result.returncode != 0
    assert "`as_of_date` is required" in result.stdout + result.stderr
