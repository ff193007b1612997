"""Starting a step's process early, so that its start-up overlaps the steps before it.

The dbt step is one process (:mod:`commune_dx.dbt_night`). About 3 s of it is start-up that
reads none of the night's data: the interpreter, importing dbt, parsing the project. The
``validate`` task starts that process (:func:`prestart`) and goes on with its own work on the
other core; the process starts up, then waits. When ``dbt_build`` runs, after ``load`` has
written the warehouse, it claims the process (:func:`run_prestarted`) and waits for its exit
status: the build itself, the only part that opens the warehouse, still happens in the
dbt_build step, after the load. (The same for validate, importing Great Expectations during the
pull, was measured and dropped: on the demo night it made validate slower.)

Rendezvous through files in ``<landing run>/<step>_process/``, so it works whether the tasks
share a process (``airflow dags test``) or not (any executor):

- ``pid``: the waiting process and its machine, written by :func:`prestart`;
- ``go``: created exclusively (``O_EXCL``) by whoever decides the process's fate: the step's
  task to claim it (``claimed``), the process itself when nobody claimed it within
  ``COMMUNE_PRESTART_WAIT_SECONDS`` (default 600: it exits without touching anything), or a
  later night's :func:`prestart` superseding it. Exactly one of them wins;
- ``output.log`` and ``errors.log``: its stdout and stderr; ``exit``: its exit status,
  written last.

Whatever goes wrong with this (no process, one that died, one that was superseded, one on
another machine), the task does the step itself, as without it: the early start only ever
saves time.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

log = logging.getLogger("commune_dx.nightly")

DEFAULT_WAIT_SECONDS = 600.0
POLL_SECONDS = 0.02
EXPIRED = 75  # exit status of a process nobody claimed (EX_TEMPFAIL)


def handoff_dir(run_dir: Path, step: str) -> Path:
    return run_dir / f"{step}_process"


def wait_seconds() -> float:
    value = os.environ.get("COMMUNE_PRESTART_WAIT_SECONDS")
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


# -- the early process's side ---------------------------------------------------------------


def wait_for_go(handoff: Path) -> bool:
    """Wait until someone decides; True if the step's task claimed this process (it must do
    the step), False if it must exit (nobody claimed it in time, or it was superseded)."""
    go = handoff / "go"
    deadline = time.monotonic() + wait_seconds()
    while time.monotonic() < deadline:
        if go.exists():
            break
        time.sleep(POLL_SECONDS)
    else:
        if _decide(handoff, "expired"):
            print(f"nobody claimed this process within {wait_seconds():.0f}s; exiting", flush=True)
            return False
    # The file may be seen before its writer wrote the verdict: wait for the verdict.
    for _ in range(500):
        verdict = go.read_text()
        if verdict:
            return verdict == "claimed"
        time.sleep(POLL_SECONDS)
    return False


def record_exit(handoff: Path, code: int) -> None:
    """Write the exit status (last, atomically): the step's task waits for this file."""
    tmp = handoff / "exit.tmp"
    tmp.write_text(str(code))
    os.replace(tmp, handoff / "exit")


# -- the tasks' side -------------------------------------------------------------------------


def prestart(command: list[str], env: dict[str, str], run_dir: Path, landing_dir: Path,
             step: str) -> int | None:
    """Start ``command`` (``... --handoff DIR`` is appended) to wait for this run's ``step``
    task; supersede the processes other runs left waiting for that step. Returns its pid, or
    None when it could not start (the task then does the step itself)."""
    handoff = handoff_dir(run_dir, step)
    for other in landing_dir.glob(f"*/{handoff.name}"):
        if other != handoff:
            supersede(other)
    pid = _read_pid(handoff)
    if pid is not None and _alive(pid) and not (handoff / "go").exists():
        return pid  # the task that starts it ran again in the same run: the first still waits
    if handoff.exists():
        supersede(handoff)
        for name in ("pid", "go", "exit", "exit.tmp", "output.log", "errors.log"):
            (handoff / name).unlink(missing_ok=True)
    handoff.mkdir(parents=True, exist_ok=True)
    try:
        with (handoff / "output.log").open("wb") as output, (handoff / "errors.log").open("wb") as errors:
            process = subprocess.Popen(
                [*command, "--handoff", str(handoff)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=errors,
                start_new_session=True,  # outlives the starting task's process, which ends first
            )
    except OSError as exc:
        log.warning("could not start the %s process early (%s); its task will start it", step, exc)
        return None
    (handoff / "pid").write_text(f"{process.pid} {socket.gethostname()}")
    log.info("%s process started early (pid %d): it starts up now and works when its task "
             "asks", step, process.pid)
    return process.pid


def supersede(handoff: Path) -> None:
    """Make a process left waiting in ``handoff`` exit (a night that never reached its task)."""
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


def run_prestarted(run_dir: Path, step: str) -> tuple[int, str, str] | None:
    """Claim this run's process waiting for ``step`` and wait for it: (exit status, stdout,
    stderr), or None when there is none to claim (then the caller does the step itself)."""
    handoff = handoff_dir(run_dir, step)
    pid = _read_pid(handoff)
    if pid is None:
        if _on_another_machine(handoff) and _decide(handoff, "superseded"):
            # It cannot be watched from here: make it exit (it sees "go" within 20 ms) and
            # give it a moment to do so before the step runs here.
            deadline = time.monotonic() + 10
            while not (handoff / "exit").exists() and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
        return None
    if not _decide(handoff, "claimed"):
        # Expired, superseded, or claimed by an earlier try of this task: never the step twice
        # at once, so let a process that may still be working finish first.
        while _alive(pid) and not (handoff / "exit").exists():
            time.sleep(0.1)
        return None
    while not (handoff / "exit").exists():
        if not _alive(pid):
            if (handoff / "exit").exists():
                break
            log.warning("the %s process started early (pid %d) died without an exit status; "
                        "doing the step here", step, pid)
            return None
        time.sleep(POLL_SECONDS)
    code = int((handoff / "exit").read_text())
    _alive(pid)  # reap it if it is our child
    output, errors = ((handoff / name).read_text(encoding="utf-8", errors="replace")
                      for name in ("output.log", "errors.log"))
    return code, output, errors

