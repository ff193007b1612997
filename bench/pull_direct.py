"""The project's pull code without Airflow: every unit in one ``pull_batch`` call.

Separates what pulling costs from what the DAG's mapped tasks add around it. Prints one JSON
object (seconds, versions, units)::

    python -m bench.pull_direct --url URL --token TOKEN --out-dir DIR [--threads 4] [--variant V]

Variants (prototypes of changes to ``commune_dx.pulling``, same ``pull_unit`` for every unit):

- ``project``: ``pull_batch`` as it is (a new ``PortalClient``, so a new HTTP connection, per unit;
  each unit's file fsync'ed);
- ``client-per-thread``: one ``PortalClient`` per worker thread, reused across its units;
- ``client-per-thread-one-sync``: the same, and the files made durable by one ``os.sync()``
  at the end of the batch instead of one ``fsync`` per unit file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from commune_dx.portal_client import PortalClient, PortalConfig, RetryPolicy
from commune_dx.pulling import make_batches, pull_batch, pull_unit
from commune_dx.settings import Settings

VARIANTS = ("project", "client-per-thread", "client-per-thread-one-sync")


def pull_with_client_per_thread(
    config: PortalConfig, batch: dict[str, Any], out_dir: Path, settings: Settings, one_sync: bool
) -> list[dict[str, Any]]:
    """``pull_batch`` with one client per worker thread (and optionally one sync at the end)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    local = threading.local()
    clients: list[PortalClient] = []
    retry = RetryPolicy(max_attempts=settings.max_attempts)

    def one(unit: dict[str, Any]) -> dict[str, Any]:
        if not hasattr(local, "client"):
            local.client = PortalClient(
                config,
                retry=retry,
                max_page_bytes=settings.max_page_bytes,
                max_submission_bytes=settings.max_submission_bytes,
            )
            clients.append(local.client)
        return pull_unit(local.client, unit, out_dir, settings.page_limit).__dict__

    fsync = os.fsync
    if one_sync:
        os.fsync = lambda fd: None  # this process only: the batch syncs once below
    try:
        with ThreadPoolExecutor(max_workers=max(1, settings.pull_threads)) as pool:
            results = list(pool.map(one, batch["units"]))
    finally:
        os.fsync = fsync
        for client in clients:
            client.close()
    if one_sync:
        os.sync()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pull_direct", description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--out-dir", required=True, type=Path)
    parser.add_argument("--threads", type=int, default=None, help="default: COMMUNE_PULL_THREADS (4)")
    parser.add_argument("--variant", choices=VARIANTS, default="project")
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
    if args.variant == "project":
        results = pull_batch(config, batch, args.out_dir, settings)
    else:
        results = pull_with_client_per_thread(
            config, batch, args.out_dir, settings, one_sync=args.variant.endswith("one-sync")
        )
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
