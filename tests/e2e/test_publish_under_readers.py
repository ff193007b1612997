"""Publishing ``serving.duckdb`` while BI tools read it.

Two reader processes query the published file in a loop, read-only, as BI tools do (plain DuckDB
and SQLAlchemy through ``duckdb-engine``, the driver Superset uses; one of them keeps a
connection open the whole time), while the real nightly DAG publishes twice. Neither side may
see an error, and every reader observation must be one whole published state, in publication
order. Older DuckDB releases, installed in throwaway virtualenvs, must open the published file.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
import yaml

from commune_dx.publishing import publish_marts
from commune_dx.settings import MART_TABLES, REPO_ROOT
from tests.conftest import NightResult, connection_json, run_night_cli

pytestmark = pytest.mark.e2e

# (as_of_date, the demo portal's clock for that night)
NIGHTS = (("2025-09-20", "2025-09-21T01:00:00+07:00"), ("2025-09-21", "2025-09-22T01:00:00+07:00"))
# Releases a BI driver may bundle: the oldest the storage format promises, the previous minor,
# the first of the project's own minor.
OLD_DUCKDB_RELEASES = ("1.0.0", "1.4.*", "1.5.0")
READER_MAX_SECONDS = 900
# The options of Superset's URI for serving.duckdb in docker-compose.yaml; the readers use the same.
BI_URI_OPTIONS = "access_mode=read_only&enable_external_access=false&temp_directory=/tmp/duckdb_spill"

# A BI-like reader, run as its own process with the project's interpreter.
#   once PATH             print the state of PATH (the reference the test compares with)
#   poll PATH LOG STOP    open, query, close, again and again (plain DuckDB and SQLAlchemy by turns)
#   hold PATH LOG STOP    open once as soon as PATH exists, keep the connection, query again and again
READER_SCRIPT = r'''
import json
import sys
import time
import traceback
from pathlib import Path

import duckdb
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

MAX_SECONDS = float(sys.argv[5]) if len(sys.argv) > 5 else 900.0
BI_URI_OPTIONS = "@BI_URI_OPTIONS@"
PAUSE = float(sys.argv[6]) if len(sys.argv) > 6 else 0.1


def state(rows):
    """What one read-only connection sees: the nights published and every mart's row count."""
    tables = [r[0] for r in rows("SELECT table_name FROM information_schema.tables "
                                 "WHERE table_schema = 'marts' ORDER BY table_name")]
    return {
        "nights": [str(r[0]) for r in rows("SELECT DISTINCT as_of_date FROM marts.task_completion "
                                          "ORDER BY 1")],
        "counts": {t: rows(f'SELECT count(*) FROM marts."{t}"')[0][0] for t in tables},
        "access_mode": rows("SELECT current_setting('access_mode')")[0][0],
    }


def read_plain(path):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return state(lambda sql: con.execute(sql).fetchall())
    finally:
        con.close()


def read_sqlalchemy(engine):
    with engine.connect() as con:
        return state(lambda sql: con.execute(sa.text(sql)).fetchall())


def loop(path, log, stop, observe):
    deadline = time.monotonic() + MAX_SECONDS
    with open(log, "a", encoding="utf-8") as out:
        turn = 0
        while not stop.exists() and time.monotonic() < deadline:
            via, read = observe(turn)
            record = {"t": time.time(), "via": via}
            try:
                record["state"] = read() if path.exists() else None
            except Exception:
                record["error"] = traceback.format_exc()
            out.write(json.dumps(record) + "\n")
            out.flush()
            turn += 1
            time.sleep(PAUSE)


def main():
    mode, path = sys.argv[1], Path(sys.argv[2])
    if mode == "once":
        print(json.dumps(read_plain(path)))
        return
    log, stop = Path(sys.argv[3]), Path(sys.argv[4])
    if mode == "poll":
        # Superset's URI (docker-compose.yaml) and its NullPool: every query opens the file anew.
        engine = sa.create_engine(f"duckdb:///{path}?{BI_URI_OPTIONS}", poolclass=NullPool)
        readers = [("duckdb", lambda: read_plain(path)), ("sqlalchemy", lambda: read_sqlalchemy(engine))]
        loop(path, log, stop, lambda turn: readers[turn % 2])
        return
    while not path.exists() and not stop.exists():
        time.sleep(0.05)
    if stop.exists():
        return
    con = duckdb.connect(str(path), read_only=True)
    held = lambda: state(lambda sql: con.execute(sql).fetchall())
    loop(path, log, stop, lambda turn: ("held", held))
    con.close()


main()
'''


@dataclass
class Published:
    """What happened while the pipeline published twice under readers."""

    warehouse: Path
    first_working_db: Path  # the working warehouse as the first night left it
    script: Path
    nights: list[tuple[str, NightResult, float]]
    states: list[dict]
    observations: dict[str, list[dict]]
    reader_exit: dict[str, tuple[int, str]]


def _read_state(script: Path, db: Path) -> dict:
    done = subprocess.run([sys.executable, str(script), "once", str(db)], capture_output=True, text=True,
                          timeout=120, check=True)
    return json.loads(done.stdout)


def _start_reader(script: Path, mode: str, db: Path, log: Path, stop: Path,
                  pause: float) -> subprocess.Popen:
    """A reader process; ``pause`` seconds between two observations."""
    return subprocess.Popen(
        [sys.executable, str(script), mode, str(db), str(log), str(stop), str(READER_MAX_SECONDS),
         str(pause)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _observations(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def _stop_reader(reader: subprocess.Popen) -> tuple[int, str]:
    """Wait for a reader that was told to stop; its exit code and output."""
    output, _ = reader.communicate(timeout=120)
    return reader.returncode, output or ""


def _wait_for_observation(log: Path, wanted: dict, timeout: float = 30.0) -> None:
    """Wait until both ways of reading in the poll log have seen ``wanted`` (the last state)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8") if log.exists() else ""
        recent = [json.loads(line) for line in text.split("\n")[:-1][-20:]]  # complete lines only
        if {o["via"] for o in recent if o.get("state") == wanted} == {"duckdb", "sqlalchemy"}:
            return
        time.sleep(0.2)


@pytest.fixture(scope="module")
def published(portal, tmp_path_factory) -> Published:
    """Two real nights published into a fresh warehouse while two reader processes poll it."""
    work = tmp_path_factory.mktemp("publishing")
    warehouse = work / "warehouse"
    serving = warehouse / "serving.duckdb"
    script = work / "bi_reader.py"
    script.write_text(READER_SCRIPT.replace("@BI_URI_OPTIONS@", BI_URI_OPTIONS), encoding="utf-8")
    stop = work / "stop"
    logs = {mode: work / f"reader-{mode}.jsonl" for mode in ("poll", "hold")}
    pauses = {"poll": 0.1, "hold": 0.25}  # keep the two cores mostly for the pipeline
    readers = {mode: _start_reader(script, mode, serving, log, stop, pauses[mode])
               for mode, log in logs.items()}
    first_working_db = work / "working-after-first-night.duckdb"
    nights: list[tuple[str, NightResult, float]] = []
    states: list[dict] = []
    portal.clear_faults()
    try:
        for as_of, clock in NIGHTS:
            portal.set_clock(clock)
            started = time.monotonic()
            result = run_night_cli(as_of, warehouse, connection_json(portal.url, portal.token))
            nights.append((as_of, result, time.monotonic() - started))
            if result.returncode != 0:
                break
            states.append(_read_state(script, serving))
            if len(states) == 1:
                shutil.copy(warehouse / "warehouse.duckdb", first_working_db)
        if states:
            _wait_for_observation(logs["poll"], states[-1])
    finally:
        stop.touch()
        exits = {mode: _stop_reader(p) for mode, p in readers.items()}
        portal.set_clock(None)
    observations = {mode: _observations(log) for mode, log in logs.items()}
    return Published(warehouse, first_working_db, script, nights, states, observations, exits)


def _state_index(observation: dict, states: list[dict]) -> int:
    """0 = nothing published yet, i = the i-th published state, -1 = anything else (a mix)."""
    if observation["state"] is None:
        return 0
    for i, known in enumerate(states, 1):
        if observation["state"] == known:
            return i
    return -1


def test_the_pipeline_publishes_twice_under_readers(published):
    for as_of, result, seconds in published.nights:
        assert result.returncode == 0, f"night {as_of} failed after {seconds:.0f}s:\n{result.output[-4000:]}"
    assert len(published.states) == len(NIGHTS)
    first, second = published.states
    assert first["nights"] == ["2025-09-20"]
    assert second["nights"] == ["2025-09-20", "2025-09-21"]
    assert set(MART_TABLES) <= set(second["counts"])


def test_readers_never_fail(published):
    for mode, (code, output) in published.reader_exit.items():
        assert code == 0, f"reader {mode} exited {code}: {output[-3000:]}"
    errors = [o for obs in published.observations.values() for o in obs if "error" in o]
    assert errors == [], errors[0]["error"]
    assert len(published.observations["poll"]) > 100


def test_readers_see_whole_states_in_publication_order(published):
    for via in ("duckdb", "sqlalchemy"):
        seen = [o for o in published.observations["poll"] if o["via"] == via]
        indexes = [_state_index(o, published.states) for o in seen]
        assert -1 not in indexes, f"{via} saw a state that was never published: {seen[indexes.index(-1)]}"
        assert indexes == sorted(indexes), f"{via} saw an older state after a newer one"
        assert {1, 2} <= set(indexes), f"{via} did not see both published states: {set(indexes)}"
        assert {o["state"]["access_mode"] for o in seen if o["state"]} == {"read_only"}


def test_a_held_connection_keeps_its_snapshot(published):
    held = published.observations["hold"]
    assert held, "the holding reader never opened the published file"
    indexes = {_state_index(o, published.states) for o in held}
    # Opened on the first publication, it keeps reading that file even after the second one.
    assert indexes == {1}


def test_parquet_copies_match_the_published_file(published):
    counts = published.states[-1]["counts"]
    con = duckdb.connect()
    for table in MART_TABLES:
        parquet = published.warehouse / "marts" / f"{table}.parquet"
        assert con.execute(f"SELECT count(*) FROM read_parquet('{parquet}')").fetchone()[0] == counts[table]


def test_published_files_are_read_only_and_nothing_is_left_behind(published):
    serving = published.warehouse / "serving.duckdb"
    assert stat.S_IMODE(serving.stat().st_mode) == 0o444
    assert not list(published.warehouse.glob(".serving.duckdb.*"))
    assert not (published.warehouse / "serving.duckdb.wal").exists()
    for folder, pattern in (("marts", "*.parquet"), ("exports", "*.*")):
        assert not list((published.warehouse / folder).glob(".publish-*"))
        published_files = list((published.warehouse / folder).glob(pattern))
        assert published_files, f"nothing published in {folder}/"
        for path in published_files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o444, path


def test_rapid_republishing_never_shows_a_mix(published, tmp_path):
    """Swap the two nights' marts in and out many times under a reader that does not pause."""
    warehouse = tmp_path / "rapid"
    serving, marts = warehouse / "serving.duckdb", warehouse / "marts"
    stop, log = tmp_path / "stop", tmp_path / "reader.jsonl"
    sources = [published.first_working_db, published.warehouse / "warehouse.duckdb"]
    reader = _start_reader(published.script, "poll", serving, log, stop, pause=0.005)
    try:
        for i in range(12):
            publish_marts(sources[i % 2], serving, marts)
            time.sleep(0.1)
    finally:
        stop.touch()
        code, output = _stop_reader(reader)
    assert code == 0, output[-3000:]
    seen = _observations(log)
    errors = [o["error"] for o in seen if "error" in o]
    assert errors == [], errors[0]
    indexes = [_state_index(o, published.states) for o in seen]
    assert -1 not in indexes, "a reader saw a state that was never published"
    switches = sum(1 for a, b in zip(indexes, indexes[1:], strict=False) if a != b)
    assert switches >= 4, f"the reader saw too few publications to mean anything ({switches})"


def test_the_readers_use_the_bi_services_uri():
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yaml").read_text(encoding="utf-8"))
    uri = compose["services"]["superset"]["environment"]["COMMUNE_MARTS_URI"]
    assert uri == f"duckdb:////warehouse/serving.duckdb?{BI_URI_OPTIONS}"


def _copy_warehouse(published: Published, target: Path) -> Path:
    """A private copy of the published warehouse (working + serving), writable."""
    target.mkdir()
    for name in ("warehouse.duckdb", "serving.duckdb"):
        shutil.copy(published.warehouse / name, target / name)
        os.chmod(target / name, 0o644)
    return target


def test_republishing_removes_a_stray_wal_and_leftovers(published, tmp_path):
    warehouse = _copy_warehouse(published, tmp_path / "copy")
    serving, marts = warehouse / "serving.duckdb", warehouse / "marts"
    marts.mkdir()
    (warehouse / "serving.duckdb.wal").write_bytes(b"left by a reader that opened it read-write")
    (warehouse / ".serving.duckdb.999999.tmp").write_bytes(b"left by a crashed publisher")
    (marts / ".publish-999999").mkdir()
    (marts / ".publish-999999" / "task_status.parquet").write_bytes(b"partial")
    (warehouse / "exports" / ".publish-999999").mkdir(parents=True)
    (warehouse / "exports" / ".publish-999999" / "marts.xlsx").write_bytes(b"partial")
    counts = publish_marts(warehouse / "warehouse.duckdb", serving, marts)
    assert counts == published.states[-1]["counts"]
    assert sorted(p.name for p in warehouse.iterdir()) == [".publish.lock", "exports", "marts",
                                                           "serving.duckdb", "warehouse.duckdb"]
    con = duckdb.connect(str(serving), read_only=True)
    assert con.execute("SELECT count(*) FROM marts.task_status").fetchone()[0] == counts["task_status"]
    con.close()


def test_a_failed_publish_leaves_the_published_files_untouched(published, tmp_path):
    warehouse = _copy_warehouse(published, tmp_path / "copy")
    serving = warehouse / "serving.duckdb"
    before = serving.read_bytes()
    broken = tmp_path / "broken.duckdb"
    con = duckdb.connect(str(broken))
    con.execute("CREATE SCHEMA marts; CREATE TABLE marts.task_status AS SELECT 1 AS x")
    con.close()
    with pytest.raises(RuntimeError, match="lacks mart"):
        publish_marts(broken, serving, warehouse / "marts")
    assert serving.read_bytes() == before
    assert not list(warehouse.glob(".serving.duckdb.*"))
    assert not list((warehouse / "marts").glob(".publish-*"))
    assert not list((warehouse / "exports").glob(".publish-*"))


def _uv() -> list[str]:
    found = shutil.which("uv")
    if found:
        return [found]
    module = [sys.executable, "-m", "uv"]
    if subprocess.run([*module, "--version"], capture_output=True, check=False).returncode == 0:
        return module
    if os.environ.get("CI"):
        pytest.fail("uv is needed to build the throwaway DuckDB virtualenvs (make setup installs it)")
    pytest.skip("uv not found: run `make test`, which installs it")


def _throwaway_duckdb(release: str, directory: Path) -> Path:
    """A virtualenv with only ``duckdb==release`` (from PyPI, through uv's cache); its python."""
    uv = _uv()
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": ""}
    subprocess.run([*uv, "venv", "--quiet", "--python", sys.executable, str(directory)], env=env,
                   check=True, capture_output=True, timeout=120)
    python = directory / "bin" / "python"
    for attempt in range(3):
        done = subprocess.run(
            [*uv, "pip", "install", "--quiet", "--python", str(python), f"duckdb=={release}"],
            env=env, capture_output=True, text=True, timeout=300, check=False,
        )
        if done.returncode == 0:
            return python
        time.sleep(2 * (attempt + 1))
    pytest.fail(f"could not install duckdb=={release}: {done.stderr[-2000:]}")


OLD_READER = r'''
import json, sys
import duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                    "WHERE table_schema = 'marts' ORDER BY 1").fetchall()]
# Every value of every row goes through this DuckDB's decoder (cast to text inside the engine).
rows = {t: len(con.execute(f'SELECT CAST(r AS VARCHAR) FROM marts."{t}" AS r').fetchall()) for t in tables}
columns = {t: [r[0] for r in con.execute(f'DESCRIBE marts."{t}"').fetchall()] for t in tables}
tasks = con.execute("SELECT tasks_total, completed FROM marts.task_completion WHERE as_of_date = "
                    "DATE '2025-09-21' AND scope = 'province' AND scope_code = 'central'").fetchone()
dead = con.execute("SELECT dead_zone_villages FROM marts.connectivity_province_monthly "
                   "WHERE period = '2025-08'").fetchone()[0]
# The views in main over the marts, and dbt's descriptions as comments.
views = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
comment = con.execute("SELECT comment FROM duckdb_columns() WHERE schema_name = 'marts' AND "
                      "table_name = 'task_completion' AND column_name = 'tasks_total'").fetchone()[0]
print(json.dumps({"version": duckdb.__version__, "rows": rows, "columns": columns,
                  "tasks": list(tasks), "dead_zone_villages": dead, "views": views, "comment": comment}))
'''


@pytest.mark.parametrize("release", OLD_DUCKDB_RELEASES)
def test_older_duckdb_releases_open_the_published_file(published, release, tmp_path):
    python = _throwaway_duckdb(release, tmp_path / "venv")
    serving = published.warehouse / "serving.duckdb"
    done = subprocess.run([str(python), "-c", OLD_READER, str(serving)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout)
    assert seen["version"].startswith(release.rstrip("*").rstrip("."))
    assert seen["rows"] == published.states[-1]["counts"]
    con = duckdb.connect(str(serving), read_only=True)
    for table, columns in seen["columns"].items():
        assert columns == [r[0] for r in con.execute(f'DESCRIBE marts."{table}"').fetchall()]
    assert seen["comment"] == con.execute(
        "SELECT comment FROM duckdb_columns() WHERE schema_name = 'marts' AND "
        "table_name = 'task_completion' AND column_name = 'tasks_total'").fetchone()[0]
    assert seen["comment"]
    con.close()
    assert seen["views"] == published.states[-1]["counts"]
    assert seen["tasks"] == [135, 79]
    assert seen["dead_zone_villages"] == 24
