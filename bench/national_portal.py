"""The demo portal serving the benchmark's national data (``bench.national_data``).

``python -m bench.national_portal [--provinces 25,01] [--first-period 2020-10] [portal options]``:
the data is built here and handed to the demo portal, which stays free of benchmark code.
"""

from __future__ import annotations

import argparse
import sys

from bench.national_data import ACTIVE_FROM, FIRST_PERIOD, LAST_PERIOD, build_national_dataset
from demo_portal.server import main as serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.national_portal", add_help=False)
    parser.add_argument("--provinces", default="", help="comma-separated province codes (default all)")
    parser.add_argument(
        "--first-period", default=FIRST_PERIOD, help=f"first history month (default {FIRST_PERIOD})"
    )
    parser.add_argument(
        "--last-period", default=LAST_PERIOD, help=f"last history month (default {LAST_PERIOD})"
    )
    parser.add_argument(
        "--active-from", default=ACTIVE_FROM, help=f"units active from (default {ACTIVE_FROM})"
    )
    parser.add_argument("--seed", type=int, default=57)
    args, rest = parser.parse_known_args(argv)
    provinces = [code.strip() for code in args.provinces.split(",") if code.strip()]
    dataset = build_national_dataset(
        provinces or None,
        first_period=args.first_period,
        last_period=args.last_period,
        active_from=args.active_from,
        seed=args.seed,
    )
    return serve(rest, dataset=dataset, label="national")


if __name__ == "__main__":
    sys.exit(main())
