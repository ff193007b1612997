"""``make up`` / ``make down``: the topology of docker-compose.yaml on this machine, without Docker.

PostgreSQL from Debian's package (data directory in the state dir, loopback port), then Airflow's
api-server, scheduler, dag-processor and triggerer with the LocalExecutor on it, and the bundled
demo portal unless connection ``commune_portal`` is set in the environment. With ``--executor
celery`` (``make up EXECUTOR=celery``): the CeleryExecutor instead, Redis from Debian's package as
its broker and two Celery workers under different host names, worker A serving the pull and the
warehouse queues, worker B only the pull queue. Every process runs in the background with its pid
file and log under the state dir; ``down`` stops them all.

Usage: ``python -m commune_dx.stack {up|down|timeline} [--executor local|celery]``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from commune_dx.cli import DEMO_TOKEN, POOL_SLOTS, airflow_env, say, write_airflow_cfg
from commune_dx.landing import write_text_atomic
from commune_dx.settings import PORTAL_CONN_ID, PORTAL_POOL, REPO_ROOT, Settings

DEMO_DAY = "2025-09-21"
DEMO_CLOCK = "2025-09-22T01:00:00+07:00"  # the demo portal as it stood the night after DEMO_DAY
UI_USER = "admin"
AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
EXECUTORS = {"local": "LocalExecutor", "celery": "CeleryExecutor"}
# The Celery workers of `make up EXECUTOR=celery`: the host name each records on its tasks, and
# whether it serves the warehouse queue (only one worker may: it owns the DuckDB files).
WORKERS = {"worker-a": True, "worker-b": False}
WORKER_CONCURRENCY = 2
STARTUP_SECONDS = 300


def _env_port(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


@dataclass(frozen=True)
class Stack:
    """Where the stack keeps its state and on which loopback ports it listens."""

    state_dir: Path
    warehouse_dir: Path
    postgres_port: int = 5439
    api_port: int = 8080
    portal_port: int = 8765
    worker_log_port: int = 8793
    trigger_log_port: int = 8794
    health_port: int = 8974
    redis_port: int = 6389
    executor: str = "local"
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, executor: str = "local") -> Stack:
        return cls(
            executor=executor,
            redis_port=_env_port("COMMUNE_REDIS_PORT", 6389),
            state_dir=Path(os.environ.get("COMMUNE_STATE_DIR") or REPO_ROOT / ".state").resolve(),
            warehouse_dir=Settings.from_env().warehouse_dir,
            postgres_port=_env_port("COMMUNE_POSTGRES_PORT", 5439),
            api_port=_env_port("COMMUNE_API_PORT", 8080),
            portal_port=_env_port("COMMUNE_DEMO_PORTAL_PORT", 8765),
        )

    @property
    def celery(self) -> bool:
        return self.executor == "celery"

    @property
    def redis_dir(self) -> Path:
        return self.state_dir / "redis"

    @property
    def pg_dir(self) -> Path:
        return self.state_dir / "postgres"

    @property
    def airflow_home(self) -> Path:
        return self.state_dir / "airflow"

    @property
    def run_dir(self) -> Path:
        """Pid files."""
        return self.state_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def secrets_file(self) -> Path:
        return self.state_dir / "secrets.json"

    @property
    def password_file(self) -> Path:
        """The UI password of user ``admin`` (Airflow's simple auth manager reads it)."""
        return self.airflow_home / "passwords.json"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def demo(self) -> bool:
        """True when the stack runs against the bundled demo portal."""
        return not (self.extra_env.get("AIRFLOW_CONN_COMMUNE_PORTAL")
                    or os.environ.get(f"AIRFLOW_CONN_{PORTAL_CONN_ID.upper()}"))


# --- PostgreSQL --------------------------------------------------------------------------------


def postgres_bin() -> Path:
    """The bin directory of Debian's PostgreSQL, installed with apt-get if missing (as root)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        if os.geteuid() != 0:
            sys.exit("make up: PostgreSQL is not installed; run `sudo apt-get install -y postgresql`")
        say("make up: installing Debian's postgresql (apt-get) …")
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "postgresql"]):
            subprocess.run(command, check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                           stdout=subprocess.DEVNULL)
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run it as the package's system user then."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _own_for_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


def _secrets(stack: Stack) -> dict[str, str]:
    """The stack's generated secrets, made once and kept (mode 600) in the state dir."""
    if stack.secrets_file.exists():
        return json.loads(stack.secrets_file.read_text(encoding="utf-8"))
    values = {name: secrets.token_hex(24) for name in ("postgres", "jwt", "api_secret_key", "redis")}
    values["ui_password"] = os.environ.get("COMMUNE_UI_PASSWORD") or secrets.token_urlsafe(12)
    write_text_atomic(stack.secrets_file, json.dumps(values, indent=2), mode=0o600)
    return values


def _redis_password(stack: Stack) -> str:
    """Redis's password; state dirs made before the Celery stack existed get one added."""
    values = _secrets(stack)
    if "redis" not in values:
        values["redis"] = secrets.token_hex(24)
        write_text_atomic(stack.secrets_file, json.dumps(values, indent=2), mode=0o600)
    return values["redis"]


def start_postgres(stack: Stack) -> None:
    """Initialise (first time) and start the PostgreSQL server; database ``airflow`` exists after."""
    bin_dir = postgres_bin()
    data = stack.pg_dir / "data"
    stack.pg_dir.mkdir(parents=True, exist_ok=True)
    _own_for_postgres(stack.pg_dir)
    password = _secrets(stack)["postgres"]
    if not (data / "PG_VERSION").exists():
        say(f"postgres: initialising {data} …")
        pwfile = stack.pg_dir / "initdb.pw"
        pwfile.write_text(password + "\n", encoding="utf-8")
        _own_for_postgres(pwfile)
        done = subprocess.run(
            _as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", "airflow", f"--pwfile={pwfile}",
                          "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"]),
            capture_output=True, text=True, check=False)
        pwfile.unlink()
        if done.returncode != 0:
            sys.exit(f"postgres: initdb failed (is {stack.state_dir} readable by user postgres?):\n"
                     f"{done.stderr[-2000:]}")
    options = f"-p {stack.postgres_port} -k {stack.pg_dir} -c listen_addresses=127.0.0.1"
    done = subprocess.run(
        _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(stack.pg_dir / "postgres.log"),
                      "-o", options, "-w", "start"]),
        capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"postgres: pg_ctl start failed (port {stack.postgres_port} taken? see "
                 f"{stack.pg_dir / 'postgres.log'}):\n{done.stdout[-1000:]}{done.stderr[-1000:]}")
    import psycopg2

    con = psycopg2.connect(host="127.0.0.1", port=stack.postgres_port, user="airflow",
                           password=password, dbname="postgres")
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = 'airflow'")
        if cur.fetchone() is None:
            cur.execute("CREATE DATABASE airflow")
    con.close()
    say(f"postgres: listening on 127.0.0.1:{stack.postgres_port} (data {data})")


def stop_postgres(stack: Stack) -> None:
    data = stack.pg_dir / "data"
    if not (data / "postmaster.pid").exists():
        return
    subprocess.run(_as_postgres([str(postgres_bin() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w",
                                 "stop"]), capture_output=True, check=False)
    say("postgres: stopped")


# --- Redis (the Celery broker) ------------------------------------------------------------------


def redis_server() -> str:
    """Debian's redis-server, installed with apt-get if missing (as root)."""
    # Debian puts it in /usr/bin, which a trimmed PATH may lack.
    found = shutil.which("redis-server", path=f"{os.environ.get('PATH', '')}:/usr/bin")
    if found is None:
        if os.geteuid() != 0:
            sys.exit("make up EXECUTOR=celery: Redis is not installed; run "
                     "`sudo apt-get install -y redis-server`")
        say("make up: installing Debian's redis-server (apt-get) …")
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "redis-server"]):
            subprocess.run(command, check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                           stdout=subprocess.DEVNULL)
        found = "/usr/bin/redis-server"
    return found


def broker_url(stack: Stack) -> str:
    return f"redis://:{_redis_password(stack)}@127.0.0.1:{stack.redis_port}/0"


def start_redis(stack: Stack) -> None:
    """Redis on a loopback port, password-protected, its config (mode 600), data and log in the
    state dir; it runs in the foreground of its own session like the Airflow components."""
    import redis

    server = redis_server()
    conf = stack.redis_dir / "redis.conf"
    write_text_atomic(conf, f"bind 127.0.0.1\nport {stack.redis_port}\ndir {stack.redis_dir}\n"
                      f"requirepass {_redis_password(stack)}\ndaemonize no\nsave \"\"\nappendonly no\n",
                      mode=0o600)
    _spawn(stack, "redis", [server, str(conf)])
    client = redis.Redis.from_url(broker_url(stack), socket_timeout=5)
    deadline = time.monotonic() + 60
    while True:
        try:
            client.ping()
            break
        except redis.exceptions.RedisError as exc:
            if time.monotonic() > deadline:
                sys.exit(f"make up: Redis did not answer on 127.0.0.1:{stack.redis_port} ({exc}); see "
                         f"{stack.log_dir / 'redis.log'}")
            time.sleep(0.5)
    say(f"redis: listening on 127.0.0.1:{stack.redis_port} (the Celery broker)")


def metadata_url(stack: Stack) -> str:
    password = _secrets(stack)["postgres"]
    return f"postgresql+psycopg2://airflow:{password}@127.0.0.1:{stack.postgres_port}/airflow"


# --- Airflow -----------------------------------------------------------------------------------


def stack_env(stack: Stack) -> dict[str, str]:
    """The environment of every process of the stack: the project's (deploy/airflow.env) plus
    what this host's topology sets (metadata DB, ports, secrets, the portal)."""
    values = _secrets(stack)
    airflow = {
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__EXECUTOR": EXECUTORS[stack.executor],
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url(stack),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{stack.ui_url}/execution/",
        "AIRFLOW__API__BASE_URL": stack.ui_url,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": values["jwt"],
        "AIRFLOW__API__SECRET_KEY": values["api_secret_key"],
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(stack.password_file),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(stack.log_dir / "airflow"),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(stack.worker_log_port),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(stack.trigger_log_port),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(stack.health_port),
    }
    if stack.celery:
        airflow.update({
            "AIRFLOW__CELERY__BROKER_URL": broker_url(stack),
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata_url(stack),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
            # Both workers run on this machine: each records its own name on its tasks.
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "commune_dx.settings.worker_hostname",
        })
    env = {**airflow_env(), "AIRFLOW_HOME": str(stack.airflow_home), **airflow,
           "WAREHOUSE_DIR": str(stack.warehouse_dir)}
    if stack.demo:
        env[f"AIRFLOW_CONN_{PORTAL_CONN_ID.upper()}"] = json.dumps(
            {"conn_type": "http", "host": f"http://127.0.0.1:{stack.portal_port}", "password": DEMO_TOKEN})
        # A scheduled night reports on the demo's day, never on today's date (a night of zeros).
        env.setdefault("COMMUNE_DEFAULT_AS_OF_DATE", DEMO_DAY)
    env.update(stack.extra_env)
    return env


def _airflow(stack: Stack, *args: str) -> None:
    airflow = str(Path(sys.executable).with_name("airflow"))
    done = subprocess.run([airflow, *args], env=stack_env(stack), cwd=REPO_ROOT, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"make up: `airflow {' '.join(args)}` failed:\n{done.stderr[-3000:]}")


def prepare(stack: Stack) -> None:
    """PostgreSQL up, the metadata database migrated, the pool, the UI password file, airflow.cfg."""
    for directory in (stack.state_dir, stack.run_dir, stack.log_dir, stack.airflow_home):
        directory.mkdir(parents=True, exist_ok=True)
    start_postgres(stack)
    env = stack_env(stack)
    # A bare `AIRFLOW_HOME=<state>/airflow airflow …` talks to this stack too.
    write_airflow_cfg(stack.airflow_home, {k: v for k, v in env.items() if k.startswith("AIRFLOW__")})
    say("airflow: migrating the metadata database on PostgreSQL …")
    _airflow(stack, "db", "migrate")
    _airflow(stack, "pools", "set", PORTAL_POOL, str(POOL_SLOTS),
             "Concurrent pulls toward the reporting portal")
    write_text_atomic(stack.password_file, json.dumps({UI_USER: _secrets(stack)["ui_password"]}), mode=0o600)


def _spawn(stack: Stack, name: str, command: list[str], env: dict[str, str] | None = None) -> int:
    """Start ``command`` in its own session, output to logs/<name>.log, pid to run/<name>.pid."""
    stack.log_dir.mkdir(parents=True, exist_ok=True)
    stack.run_dir.mkdir(parents=True, exist_ok=True)
    log = (stack.log_dir / f"{name}.log").open("ab")
    proc = subprocess.Popen(command, env={**stack_env(stack), **(env or {})}, cwd=REPO_ROOT, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    write_text_atomic(stack.run_dir / f"{name}.pid", f"{proc.pid}\n")
    return proc.pid


def _wait_for(url: str, what: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(1)
    sys.exit(f"make up: {what} did not answer on {url}; see {log}")


def start(stack: Stack) -> None:
    """Redis (Celery only) and the demo portal (if no portal is configured), then the api-server
    (tasks talk to it from their first second), then the scheduler, dag-processor, triggerer and
    (Celery only) the two workers."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    if stack.celery:
        start_redis(stack)
    if stack.demo:
        _spawn(stack, "demo-portal", [sys.executable, "-m", "demo_portal", "--host", "127.0.0.1",
                                      "--port", str(stack.portal_port), "--token", DEMO_TOKEN,
                                      "--now", DEMO_CLOCK])
        _wait_for(f"http://127.0.0.1:{stack.portal_port}/api/v1/health", "the demo portal",
                  stack.log_dir / "demo-portal.log")
        say(f"demo portal: http://127.0.0.1:{stack.portal_port} (clock {DEMO_CLOCK}); scheduled nights "
            f"report on {DEMO_DAY}")
    _spawn(stack, "api-server", [airflow, "api-server", "--host", "127.0.0.1", "--port", str(stack.api_port)])
    _wait_for(f"{stack.ui_url}/api/v2/monitor/health", "the api-server", stack.log_dir / "api-server.log")
    for name in AIRFLOW_COMPONENTS[1:]:
        _spawn(stack, name, [airflow, name])
    if stack.celery:
        start_workers(stack)
    say(f"airflow: {', '.join(AIRFLOW_COMPONENTS)} started ({EXECUTORS[stack.executor]} on PostgreSQL)")


def worker_queues(stack: Stack, owns_warehouse: bool) -> list[str]:
    settings = Settings.from_env()
    return [settings.pull_queue, *([settings.warehouse_queue] if owns_warehouse else [])]


def start_workers(stack: Stack) -> None:
    """The two Celery workers, each under its own host name. Only worker A serves task logs (on
    the stack's worker log port): both write them into the same log folder on this machine."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    fqdn = socket.getfqdn()
    for name, owns_warehouse in WORKERS.items():
        queues = worker_queues(stack, owns_warehouse)
        command = [airflow, "celery", "worker", "--celery-hostname", f"{name}@%h", "--queues",
                   ",".join(queues), "--concurrency", str(WORKER_CONCURRENCY)]
        if not owns_warehouse:
            command.append("--skip-serve-logs")
        _spawn(stack, f"celery-{name}", command, {"COMMUNE_WORKER_HOSTNAME": f"{name}.{fqdn}"})
        say(f"celery: {name} (host name {name}.{fqdn}) serves queues {', '.join(queues)}")
    _wait_for_workers(stack)


def _wait_for_workers(stack: Stack) -> None:
    """Until every worker answers Celery's ping; stop at once if one has exited."""
    nodes = [f"{name}@{socket.gethostname()}" for name in WORKERS]
    celery = str(Path(sys.executable).with_name("celery"))
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        for name in WORKERS:
            pid = int((stack.run_dir / f"celery-{name}.pid").read_text())
            if not _alive(pid):
                sys.exit(f"make up: Celery worker {name} exited; see {stack.log_dir / f'celery-{name}.log'}")
        done = subprocess.run([celery, "--app", "airflow.providers.celery.executors.celery_executor.app",
                               "inspect", "ping", "--timeout", "5", "--destination", ",".join(nodes)],
                              env=stack_env(stack), cwd=REPO_ROOT, capture_output=True, text=True,
                              check=False)
        if all(node in done.stdout for node in nodes):
            say(f"celery: {', '.join(nodes)} answer")
            return
        time.sleep(2)
    sys.exit(f"make up: the Celery workers did not answer; see {stack.log_dir}/celery-*.log")


def up(stack: Stack) -> None:
    if running(stack):
        sys.exit(f"make up: the stack in {stack.state_dir} is already running; `make down` first")
    prepare(stack)
    start(stack)
    say("")
    say(f"Airflow UI      : {stack.ui_url}  (user {UI_USER}, password in {stack.password_file})")
    say(f"Warehouse       : {stack.warehouse_dir}")
    say(f"Logs, pid files : {stack.log_dir}, {stack.run_dir}")
    say(f"Airflow CLI     : AIRFLOW_HOME={stack.airflow_home} .venv/bin/airflow …")
    say("Stop it with    : make down")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def running(stack: Stack) -> dict[str, int]:
    """The stack's processes still alive, by name, from their pid files."""
    alive = {}
    for pid_file in sorted(stack.run_dir.glob("*.pid")):
        pid = int(pid_file.read_text().strip())
        if _alive(pid):
            alive[pid_file.stem] = pid
    return alive


def down(stack: Stack) -> None:
    """Stop every process of the stack (its whole process group) and PostgreSQL."""
    alive = running(stack)
    for pid in alive.values():
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in alive.values()) and time.monotonic() < deadline:
        time.sleep(0.5)
    for name, pid in alive.items():
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
        say(f"{name}: stopped")
    for pid_file in stack.run_dir.glob("*.pid"):
        pid_file.unlink()
    stop_postgres(stack)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- What happened -----------------------------------------------------------------------------


def run_timeline(stack: Stack, run_type: str = "scheduled") -> list[str]:
    """The latest ``run_type`` run of commune_nightly from the metadata database: when the
    scheduler created and started it, and each task's start and end."""
    import psycopg2

    con = psycopg2.connect(host="127.0.0.1", port=stack.postgres_port, user="airflow",
                           password=_secrets(stack)["postgres"], dbname="airflow")
    try:
        with con.cursor() as cur:
            cur.execute("SELECT run_id, logical_date, queued_at, start_date, end_date, state FROM dag_run "
                        "WHERE dag_id = 'commune_nightly' AND run_type = %s "
                        "ORDER BY queued_at DESC LIMIT 1", [run_type])
            run = cur.fetchone()
            if run is None:
                return [f"no {run_type} run of commune_nightly"]
            cur.execute("SELECT task_id, map_index, try_number, state, start_date, end_date "
                        "FROM task_instance WHERE dag_id = 'commune_nightly' AND run_id = %s "
                        "ORDER BY start_date, map_index", [run[0]])
            tasks = cur.fetchall()
    finally:
        con.close()
    run_id, logical, queued, started, ended, state = run
    header = (f"run {run_id} ({run_type}, {state}): logical date {logical.isoformat() if logical else None}, "
              f"queued {queued.isoformat(timespec='seconds')}")
    if started and ended:
        header += (f", started {started.isoformat(timespec='seconds')}, ended "
                   f"{ended.isoformat(timespec='seconds')} ({(ended - started).total_seconds():.0f}s)")
    lines = [header]
    for task_id, map_index, tries, task_state, t_start, t_end in tasks:
        label = task_id + (f"[{map_index}]" if map_index >= 0 else "")
        span = (f"{t_start:%H:%M:%S} → {t_end:%H:%M:%S} ({(t_end - t_start).total_seconds():5.1f}s)"
                if t_start and t_end else "not run")
        lines.append(f"  {label:<22} {task_state:<8} try {tries}  {span}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="commune_dx.stack", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "timeline"])
    parser.add_argument("--executor", choices=sorted(EXECUTORS), default="local",
                        help="local: LocalExecutor; celery: CeleryExecutor, Redis and two workers")
    args = parser.parse_args(argv)
    stack = Stack.from_env(args.executor)
    if args.command == "up":
        up(stack)
    elif args.command == "down":
        down(stack)
    else:
        print("\n".join(run_timeline(stack)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
