"""The night's dbt work in one process: ``dbt build``, source freshness, and the docs site.

Run as ``python -m commune_dx.dbt_night DOCS_DIR AS_OF_DATE`` with the dbt environment set (see
:func:`commune_dx.nightly.dbt_build`). The as-of date goes to dbt as the one row of
``raw.dbt_run_context`` (see ``dbt_project/macros/run_vars.sql``), not as a var or env var:
those change every night and would make dbt re-parse the whole project each time. The project
is parsed once and the manifest reused by each command, so the extra steps cost little; the
warehouse has one writer (this process).
The docs site (``dbt docs generate --static``) is regenerated only when the project changed,
since it documents models and columns, not the night's data.

Exit status: 0 when the build is green (freshness only warns), 1 otherwise.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

import duckdb
from dbt.cli.main import dbtRunner

from commune_dx.settings import DBT_PROJECT_DIR, Settings

COMMON = ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]


def _project_fingerprint() -> str:
    """A hash of the project's sources (models, macros, seeds, configs), not of run output."""
    digest = hashlib.sha256()
    for folder in ("models", "macros", "seeds", "tests"):
        for path in sorted((DBT_PROJECT_DIR / folder).rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(DBT_PROJECT_DIR)).encode())
                digest.update(path.read_bytes())
    digest.update((DBT_PROJECT_DIR / "dbt_project.yml").read_bytes())
    return digest.hexdigest()


def write_run_context(working_db: Path, as_of_date: str) -> None:
    """Replace ``raw.dbt_run_context`` with the night's as-of date (closed before dbt opens)."""
    con = duckdb.connect(str(working_db))
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        con.execute(
            "CREATE OR REPLACE TABLE raw.dbt_run_context AS SELECT CAST(? AS DATE) AS as_of_date",
            [as_of_date],
        )
    finally:
        con.close()


def main(docs_dir: Path, as_of_date: str) -> int:
    write_run_context(Settings.from_env().working_db, as_of_date)
    parsed = dbtRunner().invoke(["--no-use-colors", "parse", *COMMON])
    if not parsed.success:
        return 1
    runner = dbtRunner(manifest=parsed.result)
    build = runner.invoke(["--no-use-colors", "build", *COMMON, "--exclude-resource-type", "unit_test"])
    if not build.success:
        return 1
    runner.invoke(["--no-use-colors", "source", "freshness", *COMMON])
    target = Path(os.environ["DBT_TARGET_PATH"])
    stamp = docs_dir / ".manifest.sha256"
    fingerprint = _project_fingerprint()
    if not stamp.exists() or stamp.read_text() != fingerprint:
        docs = runner.invoke(["--no-use-colors", "docs", "generate", *COMMON, "--static", "--no-compile"])
        if docs.success:
            docs_dir.mkdir(parents=True, exist_ok=True)
            tmp = docs_dir / "index.html.tmp"
            shutil.copyfile(target / "static_index.html", tmp)
            os.replace(tmp, docs_dir / "index.html")
            stamp.write_text(fingerprint)
            print(f"dbt docs: {docs_dir / 'index.html'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2]))
