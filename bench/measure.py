"""Measuring one command: wall time, peak memory of its whole process tree, and the stages of
an ``airflow dags test`` run read back from Airflow's metadata database (``task_instance``).

The memory sampler polls the process and all its descendants every 100 ms (psutil) and keeps
the peak of their summed RSS: what the machine had to hold at once, children included (dlt's
normalize workers).
"""

from __future__ import annotations

import os
import platform
import re
import sqlite3
import subprocess
import threading
import time
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

LOADED_LINE = re.compile(r"loaded (?P<landed>\d+) versions, (?P<new>\d+) new")
VALIDATED_LINE = re.compile(r"validated (?P<versions>\d+) versions in [\d.]+s: (?P<invalid>\d+) invalid")
# The stages of the nightly DAG, as the issue names them, and their task ids.
NIGHTLY_STAGES = {
    "preflight": "preflight",
    "pull": "pull_unit_batch",
    "validate": "validate",
    "load": "load",
    "dbt": "dbt_build",
    "publish": "publish",
}


class ProcessTreeSampler:
    """Peak summed RSS of a process and its descendants, polled from a background thread."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_rss = 0
        self.peak_single_rss = 0
        self.peak_processes = 0
        self.samples = 0
        self.series: list[tuple[float, int]] = []  # (unix time, summed RSS), one a sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)

    def start(self) -> ProcessTreeSampler:
        self._thread.start()
        return self

    def sample(self) -> int:
        """Take one sample now; returns the tree's summed RSS in bytes (0 once it has gone)."""
        try:
            root = psutil.Process(self.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        alive = 0
        for process in processes:
            try:
                rss = process.memory_info().rss
            except psutil.Error:
                continue
            alive += 1
            total += rss
            self.peak_single_rss = max(self.peak_single_rss, rss)
        self.samples += 1
        self.series.append((time.time(), total))
        if total > self.peak_rss:
            self.peak_rss = total
            self.peak_processes = alive
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join()
        return {
            "peak_rss_bytes": self.peak_rss,
            "peak_single_process_rss_bytes": self.peak_single_rss,
            "processes_at_peak": self.peak_processes,
            "samples": self.samples,
        }


@dataclass
class MeasuredRun:
    """One command run to completion under the sampler."""

    command: list[str]
    returncode: int
    wall_seconds: float
    peak_rss_bytes: int
    peak_single_process_rss_bytes: int
    samples: int
    log: str
    load_average_before: float
    load_average_after: float
    details: dict[str, Any] = field(default_factory=dict)
    series: list[tuple[float, int]] = field(default_factory=list, repr=False)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["command"] = " ".join(self.command)
        del data["series"]  # too long for results.json; see peak_rss_by_task
        return data


def load_average() -> float:
    """The 1-minute load average (how busy the machine was besides us)."""
    return round(os.getloadavg()[0], 2)


def run_measured(
    command: list[str], env: dict[str, str], log_path: Path, cwd: Path, timeout: float = 3600.0
) -> MeasuredRun:
    """Run ``command`` with stdout+stderr into ``log_path``; measure wall time and peak RSS."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    before = load_average()
    with log_path.open("w", encoding="utf-8") as log:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        sampler = ProcessTreeSampler(process.pid).start()
        try:
            returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            returncode = process.wait()
        wall = time.perf_counter() - started
        memory = sampler.stop()
    return MeasuredRun(
        command=command,
        returncode=returncode,
        wall_seconds=round(wall, 3),
        peak_rss_bytes=memory["peak_rss_bytes"],
        peak_single_process_rss_bytes=memory["peak_single_process_rss_bytes"],
        samples=memory["samples"],
        log=str(log_path),
        load_average_before=before,
        load_average_after=load_average(),
        series=sampler.series,
    )


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _utc(text: str) -> datetime:
    """A date of Airflow's SQLite metadata database (UTC, stored without its zone)."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_dag_run(airflow_db: Path, dag_id: str, started_after: datetime) -> dict[str, Any]:
    """The latest run of ``dag_id`` in an Airflow metadata database (SQLite), which must have
    started after ``started_after``: its state and duration, and per task id the first start
    to the last end of its instances (``seconds``), their summed ``duration``
    (``busy_seconds``) and how many ran (``instances``), from ``task_instance``."""
    with closing(sqlite3.connect(f"file:{airflow_db}?mode=ro", uri=True)) as con:
        run = con.execute(
            "SELECT run_id, state, start_date, end_date FROM dag_run WHERE dag_id = ? "
            "ORDER BY id DESC LIMIT 1",
            [dag_id],
        ).fetchone()
        if run is None or run[2] is None or _utc(run[2]) < started_after:
            raise RuntimeError(
                f"no run of {dag_id} since {started_after.isoformat()} in {airflow_db}; "
                "see the command's log for why `airflow dags test` did not start one"
            )
        rows = con.execute(
            "SELECT task_id, start_date, end_date, duration FROM task_instance "
            "WHERE dag_id = ? AND run_id = ? AND start_date IS NOT NULL AND end_date IS NOT NULL",
            [dag_id, run[0]],
        ).fetchall()
    tasks: dict[str, dict[str, Any]] = {}
    for task_id, start_date, end_date, duration in rows:
        started, ended = _utc(start_date), _utc(end_date)
        task = tasks.setdefault(
            task_id, {"first_start": started, "last_end": ended, "instances": 0, "busy_seconds": 0.0}
        )
        task["first_start"] = min(task["first_start"], started)
        task["last_end"] = max(task["last_end"], ended)
        task["instances"] += 1
        task["busy_seconds"] += duration if duration is not None else (ended - started).total_seconds()
    for task in tasks.values():
        task["seconds"] = round((task["last_end"] - task["first_start"]).total_seconds(), 3)
        task["busy_seconds"] = round(task["busy_seconds"], 3)
        task["first_start"] = task["first_start"].isoformat()
        task["last_end"] = task["last_end"].isoformat()
    ended = _utc(run[3]) if run[3] else None
    return {
        "tasks": tasks,
        "state": run[1],
        "run_duration_seconds": round((ended - _utc(run[2])).total_seconds(), 3) if ended else None,
    }


def parse_night_log(text: str) -> dict[str, Any]:
    """The version counts a nightly run logs (loaded, new, validated, invalid), or None each."""
    loaded = LOADED_LINE.findall(text)
    validated = VALIDATED_LINE.findall(text)
    return {
        "versions_landed": int(loaded[-1][0]) if loaded else None,
        "versions_new": int(loaded[-1][1]) if loaded else None,
        "versions_validated": int(validated[-1][0]) if validated else None,
        "versions_invalid": int(validated[-1][1]) if validated else None,
    }


def nightly_stages(parsed: dict[str, Any], wall_seconds: float) -> dict[str, float]:
    """Seconds per stage of the nightly DAG, plus what Airflow spends around the tasks."""
    stages = {
        name: parsed["tasks"].get(task_id, {}).get("seconds", 0.0) for name, task_id in NIGHTLY_STAGES.items()
    }
    stages["airflow_outside_tasks"] = round(wall_seconds - sum(stages.values()), 3)
    return stages


def peak_rss_by_task(series: list[tuple[float, int]], tasks: dict[str, Any]) -> dict[str, int]:
    """The tree's peak RSS while each task of a DAG run ran (its first start to last end).

    The sample taken last before the task started counts too: a task shorter than the sampling
    interval may have no sample of its own."""
    peaks = {}
    for name, task in tasks.items():
        start = _instant(task["first_start"]).timestamp()
        end = _instant(task["last_end"]).timestamp()
        inside = [rss for at, rss in series if start <= at <= end]
        before = [rss for at, rss in series if at < start]
        peaks[name] = max(inside + before[-1:], default=0)
    return peaks


def directory_bytes(path: Path) -> int:
    """Total size of the files under ``path`` (0 if it does not exist)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def machine_info() -> dict[str, Any]:
    """The machine and software the figures were measured on."""
    from importlib.metadata import PackageNotFoundError, version

    packages = {}
    for name in (
        "apache-airflow",
        "duckdb",
        "dbt-core",
        "dbt-duckdb",
        "great-expectations",
        "pandas",
        "jsonschema",
        "requests",
        "psutil",
    ):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    memory = psutil.virtual_memory()
    cpu_model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_bytes": memory.total,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
        "load_average_at_start": load_average(),
    }
