"""The load step against the physical limit: DuckDB's own ``read_json`` over the same JSON.

Each measurement runs in a fresh process (``python -m bench.loading_limits WHAT ...``) and
prints one JSON object; ``bench/run_bench.py`` samples the process tree's memory meanwhile.

- ``load_run``: the project's load step alone (``commune_dx.loading.load_run``) over a landing
  folder that a night pulled and validated, into a fresh working warehouse;
- ``read_json``: ``CREATE TABLE … AS SELECT * FROM read_json(…)`` over the same per-unit files
  (a glob) or over the same lines in one file, typed as the raw table's envelope (``payload``
  JSON).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import duckdb

READ_JSON_COLUMNS = (
    "{submission_id: 'VARCHAR', unit_code: 'VARCHAR', form: 'VARCHAR', form_version: 'INTEGER', "
    "period: 'VARCHAR', version: 'INTEGER', status: 'VARCHAR', submitted_at: 'TIMESTAMPTZ', "
    "updated_at: 'TIMESTAMPTZ', payload: 'JSON'}"
)


def pull_results_of(run_dir: Path) -> list[dict[str, Any]]:
    """The pull outcomes the load records, rebuilt from the landing files (every unit ok)."""
    # Imported here, not at the top: the read_json measurement must not carry the pipeline's modules.
    from commune_dx.landing import unit_files

    results = []
    for path in unit_files(run_dir):
        with path.open(encoding="utf-8") as fh:
            received = sum(1 for line in fh if line.strip())
        results.append(
            {
                "unit_code": path.stem,
                "outcome": "ok",
                "error": None,
                "versions_received": received,
                "seconds": 0.0,
            }
        )
    return results


def concatenate(run_dir: Path, out: Path) -> int:
    """Write every landing line of the run into one file; returns the number of lines."""
    from commune_dx.landing import unit_files

    lines = 0
    with out.open("w", encoding="utf-8") as sink:
        for path in unit_files(run_dir):
            with path.open(encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        sink.write(line if line.endswith("\n") else line + "\n")
                        lines += 1
    return lines


def sql_text(value: Path | str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def measure_load_run(run_dir: Path, db: Path) -> dict[str, Any]:
    from commune_dx.loading import load_run

    pulls = pull_results_of(run_dir)
    started = time.perf_counter()
    stats = load_run(db, run_dir, "bench-load", "2025-09-30", pulls)
    return {"seconds": time.perf_counter() - started, "versions": stats["versions_landed"]}


def measure_read_json(source: str, db: Path) -> dict[str, Any]:
    con = duckdb.connect(str(db))
    started = time.perf_counter()
    con.execute(
        "CREATE TABLE submission_versions AS SELECT * FROM "
        f"read_json({sql_text(source)}, format = 'newline_delimited', columns = {READ_JSON_COLUMNS})"
    )
    seconds = time.perf_counter() - started
    versions = con.execute("SELECT count(*) FROM submission_versions").fetchone()[0]
    con.close()
    return {"seconds": seconds, "versions": versions}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.loading_limits", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "what",
        choices=("load_run", "read_json"),
    )
    parser.add_argument("--run-dir", type=Path, help="a landing folder (units/, validation.jsonl, …)")
    parser.add_argument("--db", type=Path, help="the DuckDB file to create")
    parser.add_argument("--source", help="read_json: a file or a glob")
    args = parser.parse_args(argv)
    args.db.unlink(missing_ok=True)
    if args.what == "load_run":
        result = measure_load_run(args.run_dir, args.db)
    else:
        result = measure_read_json(args.source, args.db)
    result["db_bytes"] = args.db.stat().st_size
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
