"""The landing zone's layout, its writers and readers, and the one atomic write, on real files."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from commune_dx import landing


def _leftovers(folder: Path) -> list[Path]:
    return sorted(folder.rglob(f"*{landing.TEMP_SUFFIX}"))


def test_the_layout_is_the_one_the_docs_and_the_celery_workers_share(tmp_path):
    key = landing.run_key("2025-09-21", "manual__2025-09-22T01:00:00+07:00")
    run = landing.run_dir(tmp_path, key)
    assert run == tmp_path / "landing" / "2025-09-21__manual__2025-09-22T01_00_00_07_00"
    assert landing.units_dir(run) == run / "units"
    assert (landing.UNITS_SNAPSHOT, landing.TASKS_SNAPSHOT) == ("units.json", "tasks.json")
    assert (landing.LINE_MAP, landing.VALIDATION) == ("landed_lines.csv", "validation.jsonl")
    assert landing.unit_files_glob(run) == str(run / "units" / "*.jsonl")


def test_snapshots_round_trip_in_nfc_text_as_written(tmp_path):
    run = landing.run_dir(tmp_path, "r")
    units = [{"unit_code": "25001", "unit_name": "Phường Việt Trì"}]
    tasks = [{"task_code": "T1", "title": "Số hoá hồ sơ"}]
    landing.write_snapshots(run, units, tasks)
    assert landing.read_snapshots(run) == (units, tasks)
    assert "Việt Trì" in (run / landing.UNITS_SNAPSHOT).read_text(encoding="utf-8")  # not \\u-escaped


def test_unit_files_stream_in_and_read_back_line_by_line(tmp_path):
    run = landing.run_dir(tmp_path, "r")
    for code, records in (("B2", [b'{"v":2}']), ("A1", [b'{"v":1}', b'{"v":"Ho\\u0300a"}'])):
        with landing.unit_writer(landing.units_dir(run), code) as fh:
            for record in records:  # as the pull writes them, page by page
                fh.write(record + b"\n")
    assert [p.name for p in landing.unit_files(run)] == ["A1.jsonl", "B2.jsonl"]
    landed = list(landing.iter_landed_versions(run))
    assert [(v.unit_file, v.line_no, v.record) for v in landed] == [
        ("A1", 1, '{"v":1}'), ("A1", 2, '{"v":"Ho\\u0300a"}'), ("B2", 1, '{"v":2}')]
    assert landed[1].item == {"v": "Hòa"}  # NFC
    assert landing.write_line_map(run, landed) == 3
    assert (run / landing.LINE_MAP).read_text(encoding="utf-8").splitlines() == [
        "unit_file,line_no,content_hash,chars",
        *(f"{v.unit_file},{v.line_no},{landing.content_hash(v.record)},{len(v.record)}" for v in landed),
    ]
    assert not _leftovers(tmp_path)


def test_validation_verdicts_round_trip_one_a_line(tmp_path):
    run = landing.run_dir(tmp_path, "r")
    landing.write_validation(run, [("h1", True, []), ("h2", False, ["kỳ báo cáo: sai"])])
    lines = (run / landing.VALIDATION).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"content_hash": "h1", "is_valid": True, "reasons": []},
        {"content_hash": "h2", "is_valid": False, "reasons": ["kỳ báo cáo: sai"]},
    ]


def test_a_writer_that_raises_half_way_leaves_the_previous_file_and_no_temporary(tmp_path):
    target = tmp_path / "units" / "25001.jsonl"
    landing.write_bytes_atomic(target, b'{"old":1}\n')
    before = target.read_bytes()
    with pytest.raises(RuntimeError, match="half-way"):
        with landing.unit_writer(target.parent, "25001") as fh:
            fh.write(b'{"new":1}\n' * 1000)
            raise RuntimeError("half-way")
    assert target.read_bytes() == before
    assert os.listdir(target.parent) == ["25001.jsonl"]


def test_a_full_disk_leaves_the_previous_file_and_no_temporary(tmp_path):
    """A real write failure: the file-size limit (as a full disk, the write itself fails with
    an OSError), in a child process so that the limit binds it alone."""
    target = tmp_path / "report.html"
    landing.write_text_atomic(target, "trang cũ\n")
    before = target.read_bytes()
    script = textwrap.dedent(f"""
        import resource, signal, sys
        from pathlib import Path
        from commune_dx.landing import write_text_atomic
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            write_text_atomic(Path({str(target)!r}), "trang mới\\n" * 10_000)
        except OSError as exc:
            sys.exit(f"write failed: {{exc.strerror}}")
        sys.exit("the write did not fail")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "write failed: File too large" in done.stderr, done.stderr
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["report.html"]


def test_a_folder_in_the_way_fails_the_write_and_leaves_nothing(tmp_path):
    (tmp_path / "index.html").mkdir()
    with pytest.raises(IsADirectoryError):
        landing.write_text_atomic(tmp_path / "index.html", "docs")
    assert (tmp_path / "index.html").is_dir() and not _leftovers(tmp_path)


def test_permissions_are_the_umask_s_unless_a_mode_is_given(tmp_path):
    umask = os.umask(0o022)
    try:
        landing.write_text_atomic(tmp_path / "plain.json", "{}")
        landing.write_text_atomic(tmp_path / "secrets.json", "{}", mode=0o600)
        landing.write_text_atomic(tmp_path / "secrets.json", '{"b": 2}', mode=0o600)  # replaced
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "plain.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode) == 0o600
    assert json.loads((tmp_path / "secrets.json").read_text()) == {"b": 2}


def test_move_into_place_publishes_a_finished_file_with_its_mode(tmp_path):
    target = tmp_path / "serving.duckdb"
    target.write_bytes(b"old")
    tmp = landing.temp_path(target)
    assert tmp.parent == tmp_path and tmp.name.startswith(".serving.duckdb.") and tmp.name.endswith(".tmp")
    tmp.write_bytes(b"new")
    landing.move_into_place(tmp, target, 0o444)
    assert target.read_bytes() == b"new" and stat.S_IMODE(target.stat().st_mode) == 0o444
    assert os.listdir(tmp_path) == ["serving.duckdb"]


def test_concurrent_writers_of_one_file_never_mix(tmp_path):
    target = tmp_path / "state.json"
    contents = [json.dumps({"writer": i, "pad": str(i) * 50_000}) for i in range(4)]

    def write(text: str) -> None:
        for _ in range(20):
            landing.write_text_atomic(target, text)

    threads = [threading.Thread(target=write, args=(text,)) for text in contents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert target.read_text() in contents and not _leftovers(tmp_path)


def test_expired_runs_are_removed_except_the_current_one(tmp_path):
    runs = {name: landing.run_dir(tmp_path, name) for name in ("old", "new", "current")}
    for run in runs.values():
        landing.write_snapshots(run, [], [])
    for name in ("old", "current"):
        os.utime(runs[name], (0, 0))
    assert landing.remove_expired_runs(tmp_path, "current", cutoff=1_000) == 1
    assert sorted(p.name for p in landing.landing_root(tmp_path).iterdir()) == ["current", "new"]
    assert landing.remove_expired_runs(tmp_path / "nowhere", "current", cutoff=1_000) == 0
