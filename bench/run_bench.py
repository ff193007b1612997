"""``make bench``: the nightly pipeline at national scale, against its floor, a peer and the limit.

One run measures, on this machine, everything issue 7 asks for and writes ``bench/results.json``
and ``bench/RESULTS.md``:

1. the Airflow floor (``bench/dags/bench_floor.py``, three trivial tasks) and the Phú Thọ demo
   night, interleaved, ``--repeats`` times each, with ``airflow dags test``;
2. the national warehouse with 5 years of monthly history (``--history-months``, 60): all
   3,321 communes and Phú Thọ's agencies, corrections included, first load, served by the real
   demo portal (``bench.national_portal``) in a process of its own;
3. incremental nights (a day's new submissions) after a first load with the whole history and
   with 1 month of it;
4. dlt 1.31 tuned per its docs (``bench/dlt_pipeline.py``, its own venv) loading the same
   portal snapshot as the first load; the project's pull code without Airflow;
5. the load step alone against DuckDB's ``read_json`` over the same files.

Every command's wall time and the peak RSS of its whole process tree are measured; the
stages of each night come from Airflow's metadata database (the bench's own SQLite file:
``task_instance`` start and end dates of the run). Everything runs under
``bench/work/`` (git-ignored): its own Airflow home, warehouses, portals' logs, venvs.

    .venv/bin/python -m bench.run_bench [--repeats 3] [--provinces 25,01] [--history-months 60] [--skip-dlt]
        [--demo-only]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.measure import (
    MeasuredRun,
    directory_bytes,
    load_average,
    machine_info,
    nightly_stages,
    parse_night_log,
    peak_rss_by_task,
    read_dag_run,
    run_measured,
)
from bench.portal import PortalProcess
from bench.results import write_results
from commune_dx.landing import landing_root, unit_files_glob

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO_ROOT / "bench"
TOKEN = "bench-token"
DLT_VERSION = "1.31.0"
# The national calendar (see bench.national_data): the history ends with the filings of
# September 2025 (period 2025-08); the filings of October 2025 (period 2025-09) are the next
# nights' new submissions. HISTORY_MONTHS months of history start HISTORY_MONTHS periods earlier.
LAST_HISTORY_PERIOD = "2025-08"
HISTORY_MONTHS = 60
NATIONAL_AS_OF = "2025-09-30"  # the first load with the whole history
DEMO_FIRST_AS_OF = "2025-09-20"  # make run's nights: 2025-09-19, -20, -21
DEMO_AS_OF = "2025-09-21"
INCREMENTAL_NIGHTS = 2  # the 1st and 2nd of the next month: the filing days
# The code the figures depend on (a change of it during a run is flagged in the results).
CODE_PATHS = ("include", "dags", "dbt_project", "expectations", "pyproject.toml", "uv.lock")


def say(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def clock_for(as_of: str) -> str:
    """The portal's clock for a night: 01:00 local the day after the as-of date."""
    return f"{(date.fromisoformat(as_of) + timedelta(days=1)).isoformat()}T01:00:00+07:00"


def next_days(as_of: str, count: int) -> list[str]:
    return [(date.fromisoformat(as_of) + timedelta(days=i)).isoformat() for i in range(1, count + 1)]


def shift_month(month: str, months: int) -> str:
    """``YYYY-MM`` moved by ``months`` (negative: earlier)."""
    year, number = (int(part) for part in month.split("-"))
    index = year * 12 + number - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_end(month: str) -> str:
    """The last day of ``YYYY-MM``, ISO."""
    return (date.fromisoformat(f"{shift_month(month, 1)}-01") - timedelta(days=1)).isoformat()


def national_calendar(history_months: int) -> dict[str, str]:
    """The national portal's and warehouses' calendar for ``history_months`` of history: the
    first period (also ``COMMUNE_CALENDAR_START``), the units' ``active_from`` (the 1st of
    January of that year, before any filing, so that no old report is quarantined for an
    inactive unit), and the as-of dates of the two first loads (the whole history, and only the
    first month's filings)."""
    first_period = shift_month(LAST_HISTORY_PERIOD, 1 - history_months)
    return {
        "first_period": first_period,
        "active_from": f"{first_period[:4]}-01-01",
        "as_of": NATIONAL_AS_OF,
        "month_1_as_of": month_end(shift_month(first_period, 1)),
    }


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def last_json_line(log_path: Path) -> dict[str, Any]:
    """The JSON object a measured helper printed last (its log also holds warnings)."""
    for line in reversed(log_path.read_text(encoding="utf-8").splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"no result in {log_path}")


class Bench:
    """One benchmark run: its directories, environments and the results gathered so far."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work: Path = args.work_dir.resolve()
        self.airflow_home = self.work / "airflow"
        self.logs = self.work / "logs"
        self.python = Path(sys.executable)
        self.airflow = self.python.with_name("airflow")
        self.provinces = [p.strip() for p in args.provinces.split(",") if p.strip()] or None
        self.history_months = args.history_months
        self.calendar = national_calendar(args.history_months)
        self.results: dict[str, Any] = {
            "command": " ".join(["python -m bench.run_bench", *sys.argv[1:]]),
            "started_at": datetime.now().astimezone().isoformat(timespec="seconds"),
            "errors": [],
            "notes": [],
        }

    # -- environment -----------------------------------------------------------------------

    def prepare(self) -> None:
        """The bench's own Airflow home (metadata DB migrated, pool created), new each run: the
        history of earlier runs in its SQLite database (126 nightly runs after a few benches, 40
        MB) would otherwise weigh on every `airflow dags test` of later ones."""
        for folder in ("nights", "logs", "loaders", "dlt", "airflow"):
            shutil.rmtree(self.work / folder, ignore_errors=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        os.environ["AIRFLOW_HOME"] = str(self.airflow_home)
        from commune_dx.cli import setup

        setup()

    def airflow_env(
        self,
        dags_folder: Path,
        warehouse: Path | None = None,
        portal: PortalProcess | None = None,
        calendar_start: str | None = None,
    ) -> dict[str, str]:
        from commune_dx.cli import airflow_env

        env = airflow_env()
        env.update({"AIRFLOW_HOME": str(self.airflow_home), "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder)})
        env.pop("AIRFLOW_CONN_COMMUNE_PORTAL", None)
        env.pop("COMMUNE_CALENDAR_START", None)
        if warehouse is not None:
            env["WAREHOUSE_DIR"] = str(warehouse)
        if portal is not None:
            env["AIRFLOW_CONN_COMMUNE_PORTAL"] = portal.connection()
        if calendar_start:
            env["COMMUNE_CALENDAR_START"] = calendar_start
        return env

    def venv(self, name: str, requirements: list[str]) -> Path:
        """A throwaway venv under bench/work (uv, else venv + pip); returns its python."""
        folder = self.work / name
        python = folder / "bin" / "python"
        stamp = folder / ".bench-requirements"
        wanted = "\n".join(requirements)
        if python.exists() and stamp.exists() and stamp.read_text() == wanted:
            return python
        say(f"setting up {folder.relative_to(REPO_ROOT)}: {', '.join(requirements)}")
        uv = shutil.which("uv")
        if uv:
            subprocess.run(
                [uv, "venv", "--quiet", "--allow-existing", "--python", "3.11", str(folder)], check=True
            )
            subprocess.run(
                [uv, "pip", "install", "--quiet", "--python", str(python), *requirements], check=True
            )
        else:
            subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "--quiet", *requirements], check=True)
        stamp.write_text(wanted)
        return python

    def measured(self, label: str, command: list[str], env: dict[str, str] | None = None) -> MeasuredRun:
        return run_measured(command, env or self.plain_env(), self.logs / f"{label}.log", REPO_ROOT)

    def plain_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        return env

    # -- DAG runs ----------------------------------------------------------------------------

    def run_dag(
        self, label: str, dag_id: str, env: dict[str, str], conf: dict | None = None
    ) -> dict[str, Any]:
        command = [str(self.airflow), "dags", "test", dag_id]
        if conf:
            command += ["--conf", json.dumps(conf)]
        started = datetime.now(UTC)
        run = self.measured(label, command, env)
        # Stage times from Airflow's own record of the run; the version counts from its log.
        try:
            dag_run = read_dag_run(self.airflow_home / "airflow.db", dag_id, started)
        except RuntimeError as exc:
            raise RuntimeError(f"{label}: {exc} ({run.log})") from exc
        result = run.as_json() | parse_night_log(Path(run.log).read_text(encoding="utf-8"))
        result |= dag_run
        result["peak_rss_by_task_bytes"] = peak_rss_by_task(run.series, dag_run["tasks"])
        result["ok"] = run.returncode == 0 and dag_run["state"] == "success"
        if not result["ok"]:
            raise RuntimeError(f"{label}: `airflow dags test {dag_id}` failed; see {run.log}")
        return result

    def floor_run(self, index: int) -> dict[str, Any]:
        env = self.airflow_env(BENCH_DIR / "dags")
        return self.run_dag(f"floor-{index}", "bench_floor", env)

    def night(
        self,
        label: str,
        portal: PortalProcess,
        warehouse: Path,
        as_of: str,
        calendar_start: str | None = None,
        settings: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """One nightly run of ``commune_nightly`` against ``portal`` clocked for ``as_of``
        (``settings``: COMMUNE_* environment variables to change)."""
        portal.set_clock(clock_for(as_of))
        env = self.airflow_env(REPO_ROOT / "dags", warehouse, portal, calendar_start) | (settings or {})
        result = self.run_dag(label, "commune_nightly", env, {"as_of_date": as_of})
        result["as_of"] = as_of
        result["clock"] = clock_for(as_of)
        result["stages"] = nightly_stages({"tasks": result["tasks"]}, result["wall_seconds"])
        result["warehouse_bytes"] = directory_bytes(warehouse / "warehouse.duckdb")
        result["serving_bytes"] = directory_bytes(warehouse / "serving.duckdb")
        result["parquet_bytes"] = directory_bytes(warehouse / "marts")
        result["landing_bytes"] = directory_bytes(landing_root(warehouse))
        pull_load = result["stages"]["pull"] + result["stages"]["load"]
        result["pull_load_seconds"] = round(pull_load, 3)
        if result.get("versions_landed") and pull_load:
            result["pull_load_versions_per_second"] = round(result["versions_landed"] / pull_load)
        say(
            f"  {label}: {result['wall_seconds']:.1f}s wall, "
            + ", ".join(f"{k} {v:.1f}s" for k, v in result["stages"].items())
            + f", peak RSS {result['peak_rss_bytes'] / 1024**2:,.0f} MiB, "
            f"{result.get('versions_landed')} versions ({result.get('versions_new')} new)"
        )
        return result

    # -- phases ------------------------------------------------------------------------------

    def floor_and_demo(self, demo_portal: PortalProcess) -> None:
        """The floor and the demo nights, interleaved so that a busy moment hits both alike.

        Each round: the floor, then ``make run``'s last two nights in a fresh warehouse: the
        first night (cold: everything pulled, dbt's full parse, the docs site) and the next
        one (the routine night: partial parse, a day's changes).
        """
        floors: list[dict[str, Any]] = []
        demos: dict[str, list[dict[str, Any]]] = {"first": [], "next": []}
        for i in range(1, self.args.repeats + 1):
            say(f"floor run {i}/{self.args.repeats} (bench_floor, 3 trivial tasks)")
            floors.append(self.floor_run(i))
            say(f"  floor: {floors[-1]['wall_seconds']:.1f}s")
            warehouse = self.work / "nights" / f"demo-{i}"
            for kind, as_of in (("first", DEMO_FIRST_AS_OF), ("next", DEMO_AS_OF)):
                say(f"demo night {i}/{self.args.repeats}, {kind} night (Phú Thọ, as of {as_of})")
                demos[kind].append(self.night(f"demo-{i}-{kind}", demo_portal, warehouse, as_of))
        self.results["floor"] = {
            "dag": "bench_floor",
            "wall_seconds": [run["wall_seconds"] for run in floors],
            "median_wall_seconds": median([run["wall_seconds"] for run in floors]),
            "runs": floors,
        }
        block: dict[str, Any] = {}
        for kind, runs in demos.items():
            walls = [run["wall_seconds"] for run in runs]
            block[kind] = {
                "as_of": runs[0]["as_of"],
                "wall_seconds": walls,
                "median_wall_seconds": median(walls),
                "median_run": sorted(runs, key=lambda run: run["wall_seconds"])[len(runs) // 2],
                "runs": runs,
            }
        self.results["demo_night"] = block["next"] | {"first_night": block["first"]}

    def national_nights(self, national: PortalProcess) -> None:
        """First loads with the whole history and with 1 month of it, then a day's new
        submissions on each (the 1st and 2nd of the next month: the filing days)."""
        incremental: dict[str, Any] = {}
        start = self.calendar["first_period"]
        # 1 month first: its figures stand even if the whole history's first load fails.
        for months, first_as_of in (
            (1, self.calendar["month_1_as_of"]),
            (self.history_months, self.calendar["as_of"]),
        ):
            key = f"months_{months}"
            history = f"{months} month{'s' if months > 1 else ''} of history"
            warehouse = self.work / "nights" / f"national-{key}"
            say(f"national first load, {history} (as of {first_as_of})")
            initial = self.night(f"national-{key}-first", national, warehouse, first_as_of, start)
            if months == self.history_months:
                self.results["national_night"] = initial
            nights = []
            for as_of in next_days(first_as_of, INCREMENTAL_NIGHTS):
                say(f"national next night, {history} (as of {as_of})")
                nights.append(self.night(f"national-{key}-{as_of}", national, warehouse, as_of, start))
            incremental[key] = {
                "initial": initial,
                "nights": nights,
                "median_wall_seconds": median([n["wall_seconds"] for n in nights]),
                "new_versions": [n.get("versions_new") for n in nights],
                "history_versions": initial.get("versions_landed"),
            }
        self.results["incremental"] = incremental

    def dlt(self, national: PortalProcess) -> None:
        """dlt's rest_api source over the same portal snapshot as the national night."""
        python = self.venv("dlt-venv", [f"dlt[duckdb,parquet]=={DLT_VERSION}", f"duckdb=={self._duckdb()}"])
        national.set_clock(clock_for(self.calendar["as_of"]))
        # dlt tuned per its docs is the target's reference: the median of --repeats runs (one
        # run varies a lot between bench runs). Its defaults are no target's and are not run.
        runs = [self.dlt_run(python, national, "tuned", i) for i in range(1, self.args.repeats + 1)]
        runs.sort(key=lambda outcome: outcome["run_seconds"])
        block = {"tuned": runs[len(runs) // 2] | {"runs_seconds": [r["run_seconds"] for r in runs]}}
        if len(runs) > 1:
            say(f"  dlt tuned: median {block['tuned']['run_seconds']:.1f}s of "
                f"{[round(r['run_seconds'], 1) for r in runs]}")
        self.results["dlt"] = block

    def dlt_run(self, python: Path, national: PortalProcess, profile: str, index: int) -> dict[str, Any]:
        """One run of ``bench/dlt_pipeline.py`` (a fresh pipeline and DuckDB file each time)."""
        say(f"dlt {DLT_VERSION}, {profile}: rest_api per unit -> DuckDB")
        run = self.measured(
            f"dlt-{profile}" + (f"-{index}" if index > 1 else ""),
            [
                str(python),
                str(BENCH_DIR / "dlt_pipeline.py"),
                "--url",
                national.url,
                "--token",
                TOKEN,
                "--work-dir",
                str(self.work / "dlt" / profile),
                "--profile",
                profile,
            ],
        )
        if run.returncode != 0:
            raise RuntimeError(f"dlt {profile} failed; see {run.log}")
        outcome = last_json_line(Path(run.log))
        outcome |= {
            "wall_seconds": run.wall_seconds,
            "peak_rss_bytes": run.peak_rss_bytes,
            "peak_single_process_rss_bytes": run.peak_single_process_rss_bytes,
            "load_average_before": run.load_average_before,
            "log": run.log,
            "versions_per_second": round(outcome["versions"] / outcome["run_seconds"]),
        }
        say(
            f"  dlt {profile}: {outcome['versions']} versions in {outcome['run_seconds']:.1f}s "
            f"({outcome['versions_per_second']}/s), peak RSS {run.peak_rss_bytes / 1024**2:,.0f} MiB"
        )
        return outcome

    def pull_direct(self, national: PortalProcess) -> None:
        """The project's pull code without Airflow (``bench/pull_direct.py``), as dlt runs."""
        national.set_clock(clock_for(self.calendar["as_of"]))
        outcomes = []
        for i in range(1, self.args.repeats + 1):
            say(f"pull without Airflow (round {i}/{self.args.repeats})")
            run = self.measured(
                f"pull-direct-{i}",
                [
                    str(self.python),
                    "-m",
                    "bench.pull_direct",
                    "--url",
                    national.url,
                    "--token",
                    TOKEN,
                    "--out-dir",
                    str(self.work / "loaders" / "pull"),
                ],
            )
            outcome = last_json_line(Path(run.log)) | {"peak_rss_bytes": run.peak_rss_bytes}
            outcomes.append(outcome)
            say(f"  {outcome['versions']} versions in {outcome['seconds']:.1f}s")
        seconds = median([o["seconds"] for o in outcomes])
        self.results["pull_direct"] = outcomes[-1] | {
            "seconds": seconds,
            "all_seconds": [o["seconds"] for o in outcomes],
            "versions_per_second": round(outcomes[-1]["versions"] / seconds),
            "peak_rss_bytes": max(o["peak_rss_bytes"] for o in outcomes),
        }

    def national_landing(self) -> Path:
        landing = landing_root(self.work / "nights" / f"national-months_{self.history_months}")
        runs = sorted(landing.glob(f"{self.calendar['as_of']}__*"))
        if not runs:
            raise RuntimeError(f"no landing folder of the national night under {landing}")
        return runs[-1]

    def loaders(self) -> None:
        """load_run alone, read_json over the per-unit files and over one file."""
        run_dir = self.national_landing()
        folder = self.work / "loaders"
        folder.mkdir(parents=True, exist_ok=True)
        from bench.loading_limits import concatenate

        one_file = folder / "all-versions.jsonl"
        concatenate(run_dir, one_file)
        cases = {
            "load_run": ["load_run", "--run-dir", str(run_dir)],
            "read_json_per_unit_files": ["read_json", "--source", unit_files_glob(run_dir)],
            "read_json_one_file": ["read_json", "--source", str(one_file)],
        }
        block: dict[str, Any] = {"run_dir": str(run_dir)}
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in cases}
        for i in range(1, self.args.repeats + 1):
            for name, args in cases.items():
                db = folder / f"{name}.duckdb"
                run = self.measured(
                    f"loader-{name}-{i}",
                    [str(self.python), "-m", "bench.loading_limits", *args, "--db", str(db)],
                )
                if run.returncode != 0:
                    raise RuntimeError(f"loader {name} failed; see {run.log}")
                runs[name].append(
                    last_json_line(Path(run.log))
                    | {"peak_rss_bytes": run.peak_rss_bytes, "load_average_before": run.load_average_before}
                )
            say(f"  loaders round {i}: " + ", ".join(f"{n} {r[-1]['seconds']:.1f}s" for n, r in runs.items()))
        for name, measured in runs.items():
            seconds = [m["seconds"] for m in measured]
            versions = measured[-1].get("versions")
            block[name] = {
                "seconds": [round(s, 3) for s in seconds],
                "median_seconds": median(seconds),
                "versions": versions,
                "versions_per_second": round(versions / median(seconds)) if versions else None,
                "peak_rss_bytes": max(m["peak_rss_bytes"] for m in measured),
                "runs": measured,
            }
        self.results["loaders"] = block

    @staticmethod
    def _duckdb() -> str:
        from importlib.metadata import version

        return version("duckdb")

    # -- the run -----------------------------------------------------------------------------

    def phase(self, name: str, action: Callable[[], None]) -> None:
        """Run one phase; a failure is recorded and the bench goes on with the others."""
        started = time.perf_counter()
        say(f"== {name} (load average {load_average()})")
        try:
            action()
        except Exception as error:  # one broken phase must not lose the others' figures
            self.results["errors"].append(
                {
                    "phase": name,
                    "error": f"{type(error).__name__}: {error}",
                    "traceback": traceback.format_exc()[-4000:],
                }
            )
            say(f"!! {name} failed: {error}")
        self.results.setdefault("phase_seconds", {})[name] = round(time.perf_counter() - started, 1)
        # The figures so far, written after every phase: a run stopped midway keeps them.
        write_results(self.results | {"finished_at": f"not yet: after the phase {name!r}"}, self.args.out_dir)

    @staticmethod
    def code_state(commit: str = "HEAD") -> dict[str, Any]:
        """The commit, the tree of the measured code in it and the uncommitted changes to that
        code (read-only git). Commits that touch only bench/ or docs leave ``project_tree`` as is."""

        def git(*args: str) -> str:
            done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
            return done.stdout.strip()

        return {
            "commit": git("rev-parse", commit),
            "subject": git("log", "-1", "--format=%s", commit),
            "project_tree": hashlib.sha256(
                git("ls-tree", "-r", commit, "--", *CODE_PATHS).encode()
            ).hexdigest(),
            "uncommitted": git("status", "--porcelain", "--", *CODE_PATHS).splitlines(),
            # The uncommitted changes, hashed: equal at start and end means the same code ran.
            "diff_sha256": hashlib.sha256(git("diff", "HEAD", "--", *CODE_PATHS).encode()).hexdigest(),
        }

    @staticmethod
    def same_code(start: dict[str, Any], end: dict[str, Any]) -> bool:
        keys = ("project_tree", "uncommitted", "diff_sha256")
        return all(start.get(key) == end.get(key) for key in keys)

    def run(self) -> int:
        self.results["machine"] = machine_info()
        self.results["code_at_start"] = self.code_state()
        self.phase("prepare the Airflow home", self.prepare)
        national_provinces = self.provinces
        if self.args.demo_only:
            with PortalProcess(TOKEN, self.logs / "portal-demo.log", cwd=REPO_ROOT) as demo:
                self.phase("Airflow floor and demo night", lambda: self.floor_and_demo(demo))
            return self.finish()
        with (
            PortalProcess(TOKEN, self.logs / "portal-demo.log", cwd=REPO_ROOT) as demo,
            PortalProcess(
                TOKEN,
                self.logs / "portal-national.log",
                national=True,
                provinces=national_provinces,
                cwd=REPO_ROOT,
                first_period=self.calendar["first_period"],
                active_from=self.calendar["active_from"],
            ) as national,
        ):
            self.results["dataset"] = self.describe_dataset(national)
            say(
                f"portals: demo {demo.url}, national {national.url} "
                f"({national.dataset.get('versions')} versions, ready in {national.ready_seconds:.1f}s)"
            )
            self.phase("Airflow floor and demo night", lambda: self.floor_and_demo(demo))
            self.phase("national nights", lambda: self.national_nights(national))
            if not self.args.skip_dlt:
                self.phase("dlt", lambda: self.dlt(national))
            self.phase("pull without Airflow", lambda: self.pull_direct(national))
        self.phase("load step vs read_json", self.loaders)
        return self.finish()

    def finish(self) -> int:
        """Write the results and print the targets; 1 if a phase failed."""
        self.results["finished_at"] = datetime.now().astimezone().isoformat(timespec="seconds")
        self.results["code_at_end"] = self.code_state()
        if not self.same_code(self.results["code_at_start"], self.results["code_at_end"]):
            self.results["notes"].append(
                "The project's code changed while the bench ran (see code_at_start / code_at_end): "
                "the figures mix two versions; run it again on a quiet tree."
            )
        self.results["notes"] += self.notes()
        json_path, md_path = write_results(self.results, self.args.out_dir)
        say(f"results: {json_path} and {md_path.name}")
        for target in json.loads(json_path.read_text(encoding="utf-8"))["targets"]:
            ratio, limit = target["ratio"], target["limit"]
            say(f"  {target['verdict']:>12}  {target['name']}: ratio {ratio} (limit {limit})")
        return 1 if self.results["errors"] else 0

    def describe_dataset(self, national: PortalProcess) -> dict[str, Any]:
        from bench.national_data import LAST_PERIOD

        calendar = self.calendar
        return national.dataset | {
            "provinces": self.provinces or "all",
            "history_months": self.history_months,
            "history": f"monthly periods {calendar['first_period']}…{LAST_PERIOD}, units active from "
            f"{calendar['active_from']}",
            "portal_ready_seconds": national.ready_seconds,
            "national_clock": clock_for(calendar["as_of"]),
            "month_1_clock": clock_for(calendar["month_1_as_of"]),
        }

    def notes(self) -> list[str]:
        """Where the time goes, computed from this run's figures."""
        notes = []
        loads = [
            r.get("load_average_before") for r in self._all_runs() if r.get("load_average_before") is not None
        ]
        if loads and max(loads) > 1.0:
            notes.append(
                f"The machine was shared during this run: 1-minute load average before the measured "
                f"commands ranged {min(loads)}–{max(loads)} (2 CPUs); figures include that noise."
            )
        national = self.results.get("national_night") or {}
        stages = national.get("stages") or {}
        if stages:
            total = national["wall_seconds"]
            top = sorted(((v, k) for k, v in stages.items()), reverse=True)[:3]
            notes.append(
                "National night, biggest stages: "
                + ", ".join(f"{k} {v:.1f} s ({100 * v / total:.0f} %)" for v, k in top)
                + "."
            )
        incremental = self.results.get("incremental") or {}
        one = (incremental.get("months_1") or {}).get("nights") or []
        whole = (incremental.get(f"months_{self.history_months}") or {}).get("nights") or []
        if one and whole:
            stage_names = ("pull", "validate", "load", "dbt", "publish")
            deltas = {
                name: median([n["stages"][name] for n in whole]) - median([n["stages"][name] for n in one])
                for name in stage_names
            }
            notes.append(
                f"Incremental nights, {self.history_months} vs 1 month of history, difference of the median "
                "stage times: "
                + ", ".join(f"{name} {delta:+.1f} s" for name, delta in deltas.items())
                + "."
            )
        pull = (national.get("tasks") or {}).get("pull_unit_batch") or {}
        direct = self.results.get("pull_direct") or {}
        if pull and direct:
            notes.append(
                f"Pull: {pull['instances']} mapped task instances took {pull['seconds']:.1f} s in the DAG; "
                f"the same pull without Airflow took {direct['seconds']:.1f} s, so about "
                f"{pull['seconds'] - direct['seconds']:.1f} s is Airflow's per-task overhead."
            )
        return notes

    def _all_runs(self) -> list[dict[str, Any]]:
        runs = []
        for section in ("floor", "demo_night"):
            runs += (self.results.get(section) or {}).get("runs") or []
        runs += ((self.results.get("demo_night") or {}).get("first_night") or {}).get("runs") or []
        if self.results.get("national_night"):
            runs.append(self.results["national_night"])
        for block in (self.results.get("incremental") or {}).values():
            runs += [block["initial"], *block["nights"]]
        return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of the floor, demo night and loaders")
    parser.add_argument(
        "--provinces", default="", help="national data for these provinces only (default all)"
    )
    parser.add_argument("--work-dir", type=Path, default=BENCH_DIR / "work")
    parser.add_argument(
        "--out-dir", type=Path, default=BENCH_DIR, help="where results.json and RESULTS.md go"
    )
    parser.add_argument("--skip-dlt", action="store_true", help="no dlt comparison")
    parser.add_argument(
        "--history-months",
        type=int,
        default=HISTORY_MONTHS,
        help=f"months of national history (default {HISTORY_MONTHS}); fewer for a quick dry run",
    )
    parser.add_argument(
        "--demo-only",
        action="store_true",
        help="only the floor and the demo nights (their ratio); use with --out-dir to keep bench/'s results",
    )
    args = parser.parse_args(argv)
    if args.history_months < 2:
        parser.error("--history-months must be at least 2 (it is compared with 1 month)")
    return Bench(args).run()


if __name__ == "__main__":
    sys.exit(main())
