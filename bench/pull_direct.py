"""The project's pull code without Airflow: every unit in one ``pull_batch`` call.

Separates what pulling costs from what the DAG's mapped tasks add around it. Prints one JSON
object (seconds, versions, units)::

    python -m bench.pull_direct --url URL --token TOKEN --out-dir DIR [--threads 4]

It runs as dlt does in the comparison: a plain process, no Airflow.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

from commune_dx.portal_client import PortalClient, PortalConfig
from commune_dx.pulling import make_batches, pull_batch
from commune_dx.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pull_direct", description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--out-dir", required=True, type=Path)
    parser.add_argument("--threads", type=int, default=None, help="default: COMMUNE_PULL_THREADS (4)")
    args = parser.parse_args(argv)
    if args.threads:
        os.environ["COMMUNE_PULL_THREADS"] = str(args.threads)
    settings = Settings.from_env()
    config = PortalConfig(base_url=args.url, token=args.token)
    shutil.rmtree(args.out_dir, ignore_errors=True)
    started = time.perf_counter()
    with PortalClient(config) as client:
        codes = sorted(str(unit["unit_code"]) for unit in client.list_units())
    batch = make_batches(codes, {}, len(codes))[0]
    results = pull_batch(config, batch, args.out_dir, settings)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": round(seconds, 3),
                "versions": sum(r["versions_received"] for r in results),
                "units": len(results),
                "failed_units": sum(1 for r in results if r["outcome"] != "ok"),
                "threads": settings.pull_threads,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
