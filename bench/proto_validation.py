"""Prototype: the forms' JSON Schema checks compiled with ``fastjsonschema`` against the
``jsonschema`` validators the project uses, over every payload of a landing folder.

Runs in the throwaway venv ``bench/work/proto-venv`` (fastjsonschema is not a project
dependency). Prints one JSON object: payloads, seconds and verdicts of each, disagreements.

    bench/work/proto-venv/bin/python bench/proto_validation.py --run-dir DIR --forms-dir DIR
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import fastjsonschema
from jsonschema import Draft202012Validator, FormatChecker

DATE = r"^\d{4}-\d{2}-\d{2}$"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--forms-dir", type=Path, required=True)
    args = parser.parse_args()
    schemas = {
        p.name.removesuffix(".schema.json"): json.loads(p.read_text(encoding="utf-8"))
        for p in args.forms_dir.glob("*.schema.json")
    }
    # fastjsonschema knows drafts 4, 6 and 7; the forms use no 2020-12-only keyword.
    compiled = {
        form: fastjsonschema.compile(
            {k: v for k, v in schema.items() if k != "$schema"}, formats={"date": DATE}
        )
        for form, schema in schemas.items()
    }
    reference = {
        form: Draft202012Validator(schema, format_checker=FormatChecker()) for form, schema in schemas.items()
    }
    items = []
    for path in sorted((args.run_dir / "units").glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            items += [json.loads(line) for line in fh if line.strip()]
    items = [(i["form"], i["payload"]) for i in items if i.get("form") in schemas]

    started = time.perf_counter()
    slow = [not any(True for _ in reference[form].iter_errors(payload)) for form, payload in items]
    slow_seconds = time.perf_counter() - started

    def passes(form: str, payload: object) -> bool:
        try:
            compiled[form](payload)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    started = time.perf_counter()
    fast = [passes(form, payload) for form, payload in items]
    fast_seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "payloads": len(items),
                "jsonschema_seconds": round(slow_seconds, 3),
                "fastjsonschema_seconds": round(fast_seconds, 3),
                "invalid_jsonschema": slow.count(False),
                "invalid_fastjsonschema": fast.count(False),
                "disagreements": sum(1 for a, b in zip(slow, fast, strict=True) if a != b),
                "fastjsonschema_version": fastjsonschema.VERSION,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
