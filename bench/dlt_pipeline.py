"""The peer: dlt's REST API source loading the same portal into DuckDB, unit by unit.

Runs in its own virtualenv (``bench/work/dlt-venv``, see ``bench/run_bench.py``), never in the
project's. Access pattern as the nightly pull: ``/api/v1/units``, then for every unit
``/api/v1/submissions?unit=<code>&limit=500`` following ``next_page_token`` through the
``page_token`` query parameter, with the portal's bearer token.

Profiles:

- ``tuned``: what dlt's "Optimizing dlt" page suggests: parquet loader files, the per-unit
  resource ``parallelized`` (4 extract threads, as many as the nightly pull's), normalize
  workers for both cores, larger writer buffers and rotated files, no compression of the
  intermediate files;
- ``defaults``: the same source with dlt's defaults (jsonl intermediates, insert-values load).

Prints one JSON object: versions loaded, the seconds of ``pipeline.run`` and of each step.

    bench/work/dlt-venv/bin/python bench/dlt_pipeline.py --url URL --token TOKEN \\
        --work-dir bench/work/dlt/tuned --profile tuned
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

TUNED_CONFIG = {
    "EXTRACT__WORKERS": "4",
    "EXTRACT__MAX_PARALLEL_ITEMS": "20",
    "NORMALIZE__WORKERS": "2",
    "NORMALIZE__START_METHOD": "fork",
    "DATA_WRITER__BUFFER_MAX_ITEMS": "20000",
    "DATA_WRITER__FILE_MAX_ITEMS": "40000",
    "DATA_WRITER__DISABLE_COMPRESSION": "true",
}
COMMON_CONFIG = {
    "RUNTIME__DLTHUB_TELEMETRY": "false",  # no network beyond loopback
    "RUNTIME__LOG_LEVEL": "WARNING",
}


def rest_api_config(url: str, token: str, parallelized: bool) -> dict:
    """The rest_api source: units (parent) -> submissions of each unit (child), plus tasks."""
    return {
        "client": {
            "base_url": f"{url}/api/v1/",
            "auth": {"type": "bearer", "token": token},
            "paginator": {"type": "cursor", "cursor_path": "next_page_token", "cursor_param": "page_token"},
        },
        "resource_defaults": {"write_disposition": "append", "endpoint": {"data_selector": "items"}},
        "resources": [
            {"name": "units", "endpoint": {"path": "units", "paginator": "single_page"}},
            {"name": "tasks", "endpoint": {"path": "tasks", "paginator": "single_page"}},
            {
                "name": "submissions",
                "parallelized": parallelized,
                "endpoint": {
                    "path": "submissions",
                    "params": {"unit": "{resources.units.unit_code}", "limit": 500},
                },
            },
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--work-dir", required=True, type=Path)
    parser.add_argument("--profile", choices=("tuned", "defaults"), default="tuned")
    args = parser.parse_args()

    tuned = args.profile == "tuned"
    os.environ.update(COMMON_CONFIG)
    if tuned:
        os.environ.update(TUNED_CONFIG)
    shutil.rmtree(args.work_dir, ignore_errors=True)
    args.work_dir.mkdir(parents=True)
    os.environ["DLT_DATA_DIR"] = str(args.work_dir / "data")

    started = time.perf_counter()
    import dlt
    from dlt.sources.rest_api import rest_api_source

    source = rest_api_source(rest_api_config(args.url, args.token, parallelized=tuned))
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{args.profile}",
        destination=dlt.destinations.duckdb(str(args.work_dir / "dlt.duckdb")),
        dataset_name="raw",
        pipelines_dir=str(args.work_dir / "pipelines"),
    )
    imported = time.perf_counter()
    run_kwargs = {"loader_file_format": "parquet"} if tuned else {}
    pipeline.run(source, **run_kwargs)
    finished = time.perf_counter()

    steps = {
        step.step: (step.finished_at - step.started_at).total_seconds()
        for step in pipeline.last_trace.steps
        if step.finished_at is not None
    }
    with pipeline.sql_client() as client:
        versions = client.execute_sql("SELECT count(*) FROM submissions")[0][0]
        tables = [
            row[0]
            for row in client.execute_sql(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw' ORDER BY 1"
            )
        ]
    print(
        json.dumps(
            {
                "profile": args.profile,
                "dlt_version": dlt.__version__,
                "config": {
                    **COMMON_CONFIG,
                    **(TUNED_CONFIG if tuned else {}),
                    "loader_file_format": "parquet" if tuned else "default",
                    "parallelized": tuned,
                },
                "versions": versions,
                "tables": tables,
                "import_seconds": round(imported - started, 3),
                "run_seconds": round(finished - imported, 3),
                "steps_seconds": {name: round(value, 3) for name, value in steps.items()},
                "duckdb_bytes": (args.work_dir / "dlt.duckdb").stat().st_size,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
