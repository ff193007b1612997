"""The project's Airflow settings reach every Airflow process, whoever starts it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from commune_dx.cli import airflow_env
from commune_dx.settings import AIRFLOW_ENV_FILE, REPO_ROOT, read_env_file


def test_the_env_file_holds_the_projects_airflow_settings():
    values = read_env_file()
    assert values["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert values["AIRFLOW__CORE__DEFAULT_TIMEZONE"] == "Asia/Ho_Chi_Minh"
    env = airflow_env()
    for key, value in values.items():
        assert env[key] == os.environ.get(key, value), key


def test_a_bare_airflow_command_in_the_projects_home_sees_the_projects_settings(tmp_path):
    """`make setup` writes deploy/airflow.env into .airflow/airflow.cfg: no environment needed."""
    home = REPO_ROOT / ".airflow"
    subprocess.run([sys.executable, "-m", "commune_dx.cli", "setup"], env=airflow_env(), check=True,
                   capture_output=True)
    bare = {"PATH": os.environ["PATH"], "AIRFLOW_HOME": str(home), "HOME": str(tmp_path)}
    airflow = str(REPO_ROOT / ".venv" / "bin" / "airflow")

    done = subprocess.run([airflow, "config", "get-value", "core", "dags_folder"], env=bare,
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(REPO_ROOT / "dags")
    wanted = {name: value for name, value in read_env_file(AIRFLOW_ENV_FILE).items()
              if name.startswith("AIRFLOW__")}
    script = ("import json, sys; from airflow.configuration import conf; "
              "print(json.dumps({n: conf.get(*n.split('__')[1:3]) for n in json.loads(sys.argv[1])}))")
    done = subprocess.run([sys.executable, "-c", script, json.dumps(list(wanted))], env=bare,
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == wanted


STOPPABLE_CLI = """
import os, sys
from commune_dx.cli import NightStopped, run_in_own_group
command = ["bash", "-c", 'trap "" TERM; sleep 600 & echo "pids $$ $!"; wait']
try:
    run_in_own_group(command, dict(os.environ), lambda line: print(line, end="", flush=True))
except NightStopped as stopped:
    print(f"stopped by {stopped}", flush=True)
    sys.exit(143)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_second_sigterm_does_not_leave_the_nights_processes_running():
    """`timeout` signals make's process group and make passes the SIGTERM on to the CLI again:
    the second one, arriving while the CLI ends the night's processes, must not cut that short.
    The child here ignores SIGTERM, as a task busy in C code may, so only the SIGKILL after the
    grace period ends it."""
    import signal
    import time

    cli = subprocess.Popen([sys.executable, "-c", STOPPABLE_CLI], stdout=subprocess.PIPE, text=True,
                           env=dict(os.environ))
    assert cli.stdout is not None
    pids: list[int] = []
    try:
        first = cli.stdout.readline()
        assert first.startswith("pids "), first
        pids = [int(pid) for pid in first.split()[1:]]
        cli.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        cli.send_signal(signal.SIGTERM)  # make's copy of the stop
        rest = cli.communicate(timeout=60)[0]
        deadline = time.monotonic() + 5
        while any(map(_alive, pids)) and time.monotonic() < deadline:
            time.sleep(0.05)
        survivors = [pid for pid in pids if _alive(pid)]
    finally:
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if cli.poll() is None:
            cli.kill()
    assert "stopped by SIGTERM" in rest
    assert cli.returncode == 143
    assert survivors == []
