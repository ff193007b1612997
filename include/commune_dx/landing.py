"""The landing zone, the files a night's tasks hand each other, and the one atomic write.

Layout, one folder per run under ``$WAREHOUSE_DIR/landing/`` (named by :func:`run_key`)::

    landing/<as_of_date>__<run_id>/
        units.json          preflight: the /units snapshot (JSON array)      read by validate, load
        tasks.json          preflight: the /tasks snapshot (JSON array)      read by validate, load
        units/<unit>.jsonl  pull: every version as received, one a line      read by validate, load
        landed_lines.csv    validate: each landed line's sha256              read by load
        validation.jsonl    validate: a verdict per distinct new version     read by load

Every file here, and every other file the pipeline replaces (published files, report, docs,
state files), is written through :func:`atomic_writer`: a temporary name in the same folder,
flushed and fsynced, then ``os.replace``. A reader sees the old file or the new one, never a
part; a writer that fails leaves the old file as it was and no temporary file behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO, Any

import msgspec

from commune_dx.validation import nfc

# A run folder's own files (``run_dir / landing.VALIDATION``); the unit files are under ``units/``.
UNITS_SNAPSHOT = "units.json"
TASKS_SNAPSHOT = "tasks.json"
LINE_MAP = "landed_lines.csv"
VALIDATION = "validation.jsonl"
TEMP_SUFFIX = ".tmp"  # an atomic write in progress: ``.<name>.<random>.tmp`` beside its target
RUN_KEY_PATTERN = re.compile(r"[^A-Za-z0-9_.-]+")


def fsync_path(path: Path) -> None:
    """Flush a file, or a directory entry after a rename, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def move_into_place(tmp: Path, target: Path, mode: int | None = None) -> None:
    """Give ``tmp`` (a finished file beside ``target``) ``mode``, flush it and atomically
    replace ``target`` with it. For files another library wrote (DuckDB, openpyxl)."""
    if mode is not None:
        os.chmod(tmp, mode)
    fsync_path(tmp)
    os.replace(tmp, target)


def temp_path(target: Path) -> Path:
    """A fresh temporary name beside ``target`` (``.<name>.<random>.tmp``): random, so that two
    writers of the same file (two hosts, two threads) never share one."""
    return target.with_name(f".{target.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")


@contextmanager
def atomic_writer(path: Path, *, binary: bool = False, mode: int | None = None) -> Iterator[IO[Any]]:
    """Yield a file to write ``path``'s new content into, streamed as the caller likes; when the
    block ends it replaces ``path`` atomically (with permissions ``mode`` if given). If the block
    raises, ``path`` stays as it was and the temporary file is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        with open(tmp, "xb" if binary else "x", encoding=None if binary else "utf-8") as fh:
            yield fh
        move_into_place(tmp, path, mode)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str, mode: int | None = None) -> None:
    with atomic_writer(path, mode=mode) as fh:
        fh.write(text)


def write_bytes_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    with atomic_writer(path, binary=True, mode=mode) as fh:
        fh.write(data)


def landing_root(warehouse_dir: Path) -> Path:
    """The landing zone: one folder per run."""
    return warehouse_dir / "landing"


def run_key(as_of_date: str, run_id: str) -> str:
    """A file-system-safe name for one run's landing folder."""
    return f"{as_of_date}__{RUN_KEY_PATTERN.sub('_', run_id)}"[:120]


def run_dir(warehouse_dir: Path, key: str) -> Path:
    return landing_root(warehouse_dir) / key


def units_dir(run_dir: Path) -> Path:
    """Where a run's per-unit files live (apart from the run's own files)."""
    return run_dir / "units"


def unit_files(run_dir: Path) -> list[Path]:
    """A run's per-unit files, in unit-code order (never a write in progress)."""
    return sorted(units_dir(run_dir).glob("*.jsonl"))


def unit_files_glob(run_dir: Path) -> str:
    """The per-unit files as one glob, for DuckDB's readers."""
    return str(units_dir(run_dir) / "*.jsonl")


def write_snapshots(run_dir: Path, units: list[Any], tasks: list[Any]) -> None:
    """Write the run's ``/units`` and ``/tasks`` snapshots."""
    write_text_atomic(run_dir / UNITS_SNAPSHOT, json.dumps(units, ensure_ascii=False))
    write_text_atomic(run_dir / TASKS_SNAPSHOT, json.dumps(tasks, ensure_ascii=False))


def read_snapshots(run_dir: Path) -> tuple[list[Any], list[Any]]:
    """The run's ``/units`` and ``/tasks`` snapshots, as preflight wrote them."""
    units, tasks = (json.loads((run_dir / name).read_text(encoding="utf-8"))
                    for name in (UNITS_SNAPSHOT, TASKS_SNAPSHOT))
    return units, tasks


def unit_writer(units_dir: Path, unit_code: str) -> Any:
    """A streamed, atomic binary writer of ``units_dir/<unit_code>.jsonl`` (one record a line);
    ``unit_code`` must be file-name safe."""
    return atomic_writer(units_dir / f"{unit_code}.jsonl", binary=True)


def write_validation(run_dir: Path, verdicts: Iterable[tuple[str, bool, list[str]]]) -> None:
    """Write ``validation.jsonl``: one ``{"content_hash", "is_valid", "reasons"}`` a line."""
    with atomic_writer(run_dir / VALIDATION) as fh:
        for key, is_valid, reasons in verdicts:
            fh.write(json.dumps({"content_hash": key, "is_valid": is_valid, "reasons": reasons},
                                ensure_ascii=False))
            fh.write("\n")


@dataclass
class LandedVersion:
    """One line of a landing file: the record as received, its sha256 and, parsed when first
    asked for, its item (versions already stored are never parsed)."""

    unit_file: str
    line_no: int  # 1-based, counting every line of the file (as the load splits it)
    record: str
    content_hash: str

    @property
    def key(self) -> str:
        """Its identity for validation: the content hash (same content, same verdict)."""
        return self.content_hash

    @cached_property
    def item(self) -> dict[str, Any]:
        return parse_record(self.record)


def content_hash(record: str) -> str:
    return hashlib.sha256(record.encode("utf-8")).hexdigest()


_RECORD_DECODER = msgspec.json.Decoder()


def parse_record(record: str) -> Any:
    """The record as ``nfc(json.loads(record))`` gives it, in a third of the time.

    msgspec parses (json where it refuses, e.g. NaN). The walk that NFC-normalises every string
    is skipped when the record's text is NFC and has no ``\\u`` escape: each string in it is then
    its text with the two-character escapes (``\\n``, ``\\"``, ...) replaced by an ASCII or
    control character, which composes with nothing, so each string is NFC too."""
    try:
        item = _RECORD_DECODER.decode(record)
    except msgspec.DecodeError:
        item = json.loads(record)
    if "\\u" in record or not unicodedata.is_normalized("NFC", record):
        item = nfc(item)
    return item


def iter_landed_versions(run_dir: Path) -> Iterator[LandedVersion]:
    """Every version in a run's landing files, in file order, not parsed yet.

    Lines are split on "\\n" only, as the load splits them (a record is compact JSON: any line
    break inside it is escaped); blank lines are skipped, as the load skips them."""
    for path in unit_files(run_dir):
        text = path.read_bytes().decode("utf-8")
        for line_no, record in enumerate(text.split("\n"), start=1):
            if not record.strip():
                continue
            yield LandedVersion(path.stem, line_no, record, content_hash(record))


def line_map_row(version: LandedVersion) -> str:
    """The version's row of the line map (unit codes are file-name safe: no quoting needed)."""
    return f"{version.unit_file},{version.line_no},{version.content_hash},{len(version.record)}\n"


def write_line_map(run_dir: Path, versions: Iterable[LandedVersion]) -> int:
    """Write the run's line map (what validate leaves the load: where each landed version is and
    its sha256, so the load need not hash the records again); returns the number of rows."""
    rows = 0
    with atomic_writer(run_dir / LINE_MAP) as fh:
        fh.write("unit_file,line_no,content_hash,chars\n")
        for version in versions:
            fh.write(line_map_row(version))
            rows += 1
    return rows


def remove_expired_runs(warehouse_dir: Path, current_key: str, cutoff: float) -> int:
    """Remove the landing runs last changed before ``cutoff`` (epoch seconds), never the run
    ``current_key``; returns how many were removed."""
    root = landing_root(warehouse_dir)
    removed = 0
    if root.is_dir():
        for run in root.iterdir():
            if run.is_dir() and run.name != current_key and run.stat().st_mtime < cutoff:
                shutil.rmtree(run, ignore_errors=True)
                removed += 1
    return removed
