"""Command-line entry points behind the Makefile: ``setup``, ``night``, ``demo``, ``summary``.

Usage: ``python -m commune_dx.cli {setup|night --as-of YYYY-MM-DD|demo|summary}``.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

from commune_dx.landing import atomic_writer
from commune_dx.settings import PORTAL_CONN_ID, PORTAL_POOL, REPO_ROOT, Settings, read_env_file

DEMO_NIGHTS = ("2025-09-19", "2025-09-20", "2025-09-21")
DEMO_TOKEN = "demo-token"
POOL_SLOTS = 4
# After SIGTERM, the night's processes get this long to end before they are killed.
STOP_GRACE_SECONDS = 5.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
ERROR_LINE = re.compile(
    r"(ConnectionConfigError|PortalUnreachable|PortalAuthError|PortalBadRequest|"
    r"PortalResponseTooLarge|PortalProtocolError|PipelineError): (.+)"
)
PROGRESS_LINE = re.compile(r"\[\w+\s*\] (.*?) \[commune_dx\.nightly\]")


def airflow_env() -> dict[str, str]:
    """The environment every Airflow command of the project runs with: deploy/airflow.env under
    whatever the caller's environment sets already."""
    env = dict(os.environ)
    env.setdefault("AIRFLOW_HOME", str(REPO_ROOT / ".airflow"))
    env.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO_ROOT / "dags"))
    for key, value in read_env_file().items():
        env.setdefault(key, value)
    env.setdefault("NO_COLOR", "1")
    return env


def write_airflow_cfg(home: Path, values: dict[str, str]) -> Path:
    """Set ``AIRFLOW__SECTION__KEY`` ``values`` in ``home``/airflow.cfg (other entries kept), so
    that an Airflow command started without the project's environment sees them too."""
    path = home / "airflow.cfg"
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(path, encoding="utf-8")
    for name, value in values.items():
        parts = name.split("__")
        if len(parts) != 3 or parts[0] != "AIRFLOW":
            continue
        section, key = parts[1].lower(), parts[2].lower()
        if not cfg.has_section(section):
            cfg.add_section(section)
        cfg.set(section, key, value.replace("%", "%%"))
    with atomic_writer(path, mode=0o600) as fh:
        cfg.write(fh)
    return path


def _airflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    airflow = Path(sys.executable).with_name("airflow")
    return subprocess.run([str(airflow), *args], env=env or airflow_env(), capture_output=True,
                          text=True, check=False)


class NightStopped(Exception):
    """``make night`` was told to stop (SIGTERM from timeout, systemd or a CI runner; Ctrl-C)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn the first SIGTERM, SIGINT or SIGHUP into :class:`NightStopped` while the block runs, and
    ignore the ones after it until the block ends. A stop often comes twice: `timeout` or a CI
    runner signals the whole process group, and make passes the SIGTERM on to this command again.
    The second one must not end this command half-way through ending the night's processes."""

    def stop(signum: int, frame: object) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        raise NightStopped(signum)

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def end_process_group(proc: subprocess.Popen, grace: float = STOP_GRACE_SECONDS) -> None:
    """End ``proc`` and every process in its group: SIGTERM, then, after at most ``grace``
    seconds, SIGKILL to whatever is left of the group."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def run_in_own_group(command: list[str], env: dict[str, str], on_line: Callable[[str], None]) -> int:
    """Run ``command`` in a process group of its own, passing each line of its output to
    ``on_line``; its exit code. A stop signal ends the whole group (the command and every process
    it started) before :class:`NightStopped` is raised, so nothing outlives this command."""
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          cwd=REPO_ROOT, start_new_session=True) as proc:
        assert proc.stdout is not None
        try:
            with stop_on_signals():
                try:
                    for line in proc.stdout:
                        on_line(line)
                    return proc.wait()
                except NightStopped:
                    end_process_group(proc)  # further stop signals are ignored until it is done
                    raise
        finally:
            if proc.poll() is None:
                end_process_group(proc)


def say(message: str) -> None:
    print(message, flush=True)


def setup() -> None:
    """Idempotent: the Airflow home (metadata DB migrated, pool created)."""
    env = airflow_env()
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    cfg = write_airflow_cfg(home, {"AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"), **read_env_file()})
    say(f"setup: the project's Airflow settings (deploy/airflow.env) written into {cfg}")
    stamp = home / ".commune_setup"
    if stamp.exists():
        say(f"setup: Airflow home {home} is ready")
        return
    say(f"setup: migrating the Airflow metadata database in {home} …")
    for args in (("db", "migrate"),
                 ("pools", "set", PORTAL_POOL, str(POOL_SLOTS),
                  "Concurrent pulls toward the reporting portal")):
        done = _airflow(*args, env=env)
        if done.returncode != 0:
            sys.exit(f"setup: `airflow {' '.join(args)}` failed:\n{done.stderr[-3000:]}")
    stamp.write_text("ok\n")
    say(f"setup: done (pool {PORTAL_POOL!r} with {POOL_SLOTS} slots)")


def _configured_portal(env: dict[str, str]) -> bool:
    """True if connection ``commune_portal`` is set in the environment or the metadata DB."""
    if env.get(f"AIRFLOW_CONN_{PORTAL_CONN_ID.upper()}"):
        return True
    db = Path(env["AIRFLOW_HOME"]) / "airflow.db"
    if not db.exists():
        return False
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            row = con.execute("SELECT 1 FROM connection WHERE conn_id = ?", [PORTAL_CONN_ID]).fetchone()
    except sqlite3.Error:
        return False
    return row is not None


@contextmanager
def demo_portal() -> Iterator[object]:
    from demo_portal.server import start_demo_portal

    say("demo portal: starting on loopback …")
    portal = start_demo_portal(host="127.0.0.1", port=0, token=DEMO_TOKEN)
    say(f"demo portal: listening on {portal.url}")
    try:
        yield portal
    finally:
        portal.stop()
        say("demo portal: stopped")


def _demo_clock(as_of: str) -> str:
    """The demo portal's clock for a night: 01:00 local the day after the as-of date."""
    return f"{(date.fromisoformat(as_of) + timedelta(days=1)).isoformat()}T01:00:00+07:00"


def run_night(as_of: str, env: dict[str, str], settings: Settings) -> bool:
    """Run the DAG once in-process (`airflow dags test`), showing progress; True on success."""
    log_dir = settings.warehouse_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"night-{as_of}.log"
    airflow = Path(sys.executable).with_name("airflow")
    command = [str(airflow), "dags", "test", "commune_nightly", "--conf",
               json.dumps({"as_of_date": as_of})]
    say(f"night {as_of}: running DAG commune_nightly (log: {log_path})")
    started = time.monotonic()
    error = None
    with log_path.open("w", encoding="utf-8") as log:

        def follow(line: str) -> None:
            nonlocal error
            log.write(line)
            match = ERROR_LINE.search(line)
            if match:
                error = match.group(2).strip()  # the last one is the most specific
            progress = PROGRESS_LINE.search(line)
            if progress and progress.group(1):
                say(f"  [{time.monotonic() - started:5.1f}s] {progress.group(1).strip()[:160]}")

        try:
            code = run_in_own_group(command, env, follow)
        except NightStopped as stopped:
            say(f"night {as_of}: STOPPED by {stopped} after {time.monotonic() - started:.0f}s; "
                f"its processes ended, the published warehouse is as it was (log: {log_path})")
            raise
    with log_path.open(encoding="utf-8") as fh:
        text = fh.read()
    failed = code != 0 or "failed" in re.findall(r"DagRun Finished: .*?state=(\w+)", text)[-1:]
    if failed:
        say(f"night {as_of}: FAILED after {time.monotonic() - started:.0f}s")
        say(f"error: {error or 'see the log'} (full log: {log_path})")
        return False
    say(f"night {as_of}: done in {time.monotonic() - started:.0f}s")
    return True


def print_summary(settings: Settings, as_of: str | None = None) -> bool:
    """Print the summary of the night ``as_of`` (default: the latest night published) and where the
    outputs are; False (with what to do) when the warehouse has no such night."""
    import duckdb

    from commune_dx.report import format_summary, published_nights, read_night

    if not settings.serving_db.is_file():
        say(f"error: no published warehouse at {settings.serving_db}: run `make run` or "
            "`make night AS_OF=YYYY-MM-DD` first (or set WAREHOUSE_DIR)")
        return False
    con = duckdb.connect(str(settings.serving_db), read_only=True)
    try:
        nights = published_nights(con)
        night_date = as_of or (nights[-1] if nights else None)
        if night_date is None or night_date not in nights:
            known = f"nights published: {nights[0]} … {nights[-1]}" if nights else "no night published yet"
            say(f"error: {settings.serving_db} has no night as of {night_date or '(none)'} ({known}); "
                "pick one with AS_OF=YYYY-MM-DD or run `make night AS_OF=...`")
            return False
        say("")
        say(format_summary(read_night(con, night_date)))
    finally:
        con.close()
    say("")
    say(f"Published warehouse : {settings.serving_db}")
    say(f"Parquet marts       : {settings.parquet_dir}/<table>.parquet")
    say(f"HTML report         : {settings.report_path}")
    say(f"Validation (GX docs): {settings.gx_docs_dir / 'index.html'}")
    say(f"Marts docs (dbt)    : {settings.dbt_docs_dir / 'index.html'}")
    return True


def night(as_of: str) -> int:
    settings = Settings.from_env()
    env = airflow_env()
    env["WAREHOUSE_DIR"] = str(settings.warehouse_dir)
    if _configured_portal(env):
        ok = run_night(as_of, env, settings)
    else:
        with demo_portal() as portal:
            portal.set_clock(_demo_clock(as_of))
            env[f"AIRFLOW_CONN_{PORTAL_CONN_ID.upper()}"] = json.dumps(
                {"conn_type": "http", "host": portal.url, "password": portal.token}
            )
            ok = run_night(as_of, env, settings)
    if ok:
        print_summary(settings, as_of)
    return 0 if ok else 1


def demo() -> int:
    """``make run``: the demo nights against the bundled demo portal, then the summary."""
    settings = Settings.from_env()
    env = airflow_env()
    env["WAREHOUSE_DIR"] = str(settings.warehouse_dir)
    started = time.monotonic()
    with demo_portal() as portal:
        env[f"AIRFLOW_CONN_{PORTAL_CONN_ID.upper()}"] = json.dumps(
            {"conn_type": "http", "host": portal.url, "password": portal.token}
        )
        for i, as_of in enumerate(DEMO_NIGHTS, 1):
            say(f"== demo night {i}/{len(DEMO_NIGHTS)}: as of {as_of} ==")
            portal.set_clock(_demo_clock(as_of))
            if not run_night(as_of, env, settings):
                return 1
    print_summary(settings, DEMO_NIGHTS[-1])
    say(f"make run: {len(DEMO_NIGHTS)} nights in {time.monotonic() - started:.0f}s")
    return 0


def _stoppable(command, *args: str) -> int:
    """Run a command that runs nights; a stop signal exits 128 + its number, as a shell does."""
    try:
        return command(*args)
    except NightStopped as stopped:
        return 128 + stopped.signum


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="commune_dx", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="prepare the Airflow home (idempotent)")
    night_parser = sub.add_parser("night", help="one nightly run reporting on --as-of")
    night_parser.add_argument("--as-of", required=True, help="YYYY-MM-DD")
    sub.add_parser("demo", help="the demo nights against the bundled demo portal")
    summary_parser = sub.add_parser("summary", help="print the KPI summary of serving.duckdb")
    summary_parser.add_argument("--as-of", default=None,
                                help="YYYY-MM-DD, a night published (default: the latest)")
    args = parser.parse_args(argv)
    if args.command == "setup":
        setup()
        return 0
    if args.command in ("night", "summary") and args.as_of is not None:
        try:
            date.fromisoformat(args.as_of)
        except ValueError:
            print(f"error: AS_OF={args.as_of!r} is not a date YYYY-MM-DD", file=sys.stderr)
            return 2
    if args.command == "night":
        return _stoppable(night, args.as_of)
    if args.command == "demo":
        return _stoppable(demo)
    return 0 if print_summary(Settings.from_env(), args.as_of) else 2


if __name__ == "__main__":
    sys.exit(main())
