"""Starting the night's dbt process early, so that its start-up overlaps validate and load.

The dbt step is one process (:mod:`commune_dx.dbt_night`). About 3 s of it is start-up that
does not touch the warehouse: the interpreter, importing dbt, and parsing the project. The
``validate`` task starts that process (:func:`prestart`) and goes on with its own work on the
other core; the process parses, then waits. When ``dbt_build`` runs, after ``load`` has written
the warehouse, it tells the waiting process to go (:func:`run_prestarted`) and waits for its
exit status: the build itself, which is the only thing that opens the warehouse, still happens
in the dbt_build step, after the load.

Rendezvous through files in ``<landing run>/dbt_process/``, so it works whether the tasks share
a process (``airflow dags test``) or not (any executor):

- ``pid``: the waiting process, written by :func:`prestart`;
- ``go``: created exclusively (``O_EXCL``) by whoever decides the process's fate: ``dbt_build``
  to claim it (it builds), or the process itself when nobody claimed it within
  ``COMMUNE_DBT_PRESTART_WAIT_SECONDS`` (default 600; it exits without touching anything), or a
  later night's :func:`prestart` superseding it. Exactly one of them wins;
- ``output.log``: the process's output; ``exit``: its exit status, written last.

Whatever goes wrong with this (no process, one that died, one that was superseded),
``dbt_build`` runs dbt itself as before: the early start only ever saves time.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger("commune_dx.nightly")

HANDOFF_DIR = "dbt_process"
DEFAULT_WAIT_SECONDS = 600.0
POLL_SECONDS = 0.02
EXPIRED = 75  # exit status of a process nobody claimed (EX_TEMPFAIL)


def handoff_dir(run_dir: Path) -> Path:
    return run_dir / HANDOFF_DIR


def wait_seconds() -> float:
    value = os.environ.get("COMMUNE_DBT_PRESTART_WAIT_SECONDS")
    return float(value) if value else DEFAULT_WAIT_SECONDS


def _decide(handoff: Path, verdict: str) -> bool:
    """Create ``go`` with ``verdict`` unless it exists; True if this call created it."""
    try:
        fd = os.open(handoff / "go", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    try:
        os.write(fd, verdict.encode())
    finally:
        os.close(fd)
    return True


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs; reaps it when it is this process's child (a zombie would
    otherwise look alive)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:  # not our child (tasks in separate processes)
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(handoff: Path) -> int | None:
    """The waiting process's pid, or None when there is none, or when it runs on another
    machine (tasks on other workers): its pid means nothing here."""
    try:
        pid, host = (handoff / "pid").read_text().split()
        return int(pid) if host == socket.gethostname() else None
    except (OSError, ValueError):
        return None


def _on_another_machine(handoff: Path) -> bool:
    return (handoff / "pid").exists() and _read_pid(handoff) is None


# -- the dbt process's side ------------------------------------------------------------------


def wait_for_go(handoff: Path, seconds: float | None = None) -> bool:
    """Wait until someone decides; True if ``dbt_build`` claimed this process (it must build),
    False if it must exit (nobody claimed it in time, or a later night superseded it)."""
    go = handoff / "go"
    deadline = time.monotonic() + (wait_seconds() if seconds is None else seconds)
    while time.monotonic() < deadline:
        if go.exists():
            break
        time.sleep(POLL_SECONDS)
    else:
        if _decide(handoff, "expired"):
            print(f"dbt: nobody asked for the build within {wait_seconds():.0f}s; exiting",
                  flush=True)
            return False
    # The file may be seen before its writer wrote the verdict: wait for the verdict.
    for _ in range(500):
        verdict = go.read_text()
        if verdict:
            return verdict == "build"
        time.sleep(POLL_SECONDS)
    return False


def record_exit(handoff: Path, code: int) -> None:
    """Write the exit status (last, atomically): ``dbt_build`` waits for this file."""
    tmp = handoff / "exit.tmp"
    tmp.write_text(str(code))
    os.replace(tmp, handoff / "exit")


# -- the tasks' side -------------------------------------------------------------------------


def prestart(command: list[str], env: dict[str, str], run_dir: Path, landing_dir: Path) -> int | None:
    """Start ``command`` (``python -m commune_dx.dbt_night ... --handoff DIR``) to wait for this
    run's ``dbt_build``; supersede processes other runs left waiting. Returns its pid, or None
    when it could not start (``dbt_build`` then runs dbt itself)."""
    handoff = handoff_dir(run_dir)
    for other in landing_dir.glob(f"*/{HANDOFF_DIR}"):
        if other != handoff:
            supersede(other)
    pid = _read_pid(handoff)
    if pid is not None and _alive(pid) and not (handoff / "go").exists():
        return pid  # validate ran again in the same run: the process it started still waits
    if handoff.exists():
        supersede(handoff)
        for name in ("pid", "go", "exit", "exit.tmp", "output.log"):
            (handoff / name).unlink(missing_ok=True)
    handoff.mkdir(parents=True, exist_ok=True)
    try:
        with (handoff / "output.log").open("wb") as output:
            process = subprocess.Popen(
                [*command, "--handoff", str(handoff)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives this task's process, which ends first
            )
    except OSError as exc:
        log.warning("could not start dbt early (%s); dbt_build will start it", exc)
        return None
    (handoff / "pid").write_text(f"{process.pid} {socket.gethostname()}")
    log.info("dbt started early (pid %d): it parses the project now and builds when dbt_build "
             "asks, after the load", process.pid)
    return process.pid


def supersede(handoff: Path) -> None:
    """Make a process left waiting in ``handoff`` exit (a night that never reached dbt_build)."""
    if not (handoff / "pid").exists() or not _decide(handoff, "superseded"):
        return  # none was started, or its fate is decided already
    pid = _read_pid(handoff)
    if pid is not None and _alive(pid):  # one on another machine sees "go" and exits
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < deadline:  # reaps it if it is our child
            time.sleep(POLL_SECONDS)


def run_prestarted(run_dir: Path) -> tuple[int, str] | None:
    """Claim this run's waiting dbt process and wait for it: (exit status, output), or None
    when there is none to claim (then the caller runs dbt itself)."""
    handoff = handoff_dir(run_dir)
    pid = _read_pid(handoff)
    if pid is None:
        if _on_another_machine(handoff) and _decide(handoff, "superseded"):
            # It cannot be watched from here: make it exit (it sees "go" within 20 ms) and
            # give it a moment to do so before dbt starts here.
            deadline = time.monotonic() + 10
            while not (handoff / "exit").exists() and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
        return None
    if not _decide(handoff, "build"):
        # Expired, superseded, or claimed by an earlier try of this task: never two builds at
        # once, so let a process that may still be building finish first.
        while _alive(pid) and not (handoff / "exit").exists():
            time.sleep(0.1)
        return None
    while not (handoff / "exit").exists():
        if not _alive(pid):
            if (handoff / "exit").exists():
                break
            log.warning("the dbt process started early (pid %d) died without an exit status; "
                        "running dbt again", pid)
            return None
        time.sleep(POLL_SECONDS)
    code = int((handoff / "exit").read_text())
    _alive(pid)  # reap it if it is our child
    output = (handoff / "output.log").read_text(encoding="utf-8", errors="replace")
    return code, output


def python_command() -> list[str]:
    return [sys.executable, "-m", "commune_dx.dbt_night"]
