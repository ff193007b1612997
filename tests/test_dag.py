"""The DAG file imports cleanly and wires the steps the contract names."""

from __future__ import annotations

import pytest

from commune_dx.settings import REPO_ROOT


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    return bag.dags["commune_nightly"]


def test_dag_shape(dag):
    assert set(dag.task_ids) == {"preflight", "pull_unit_batch", "validate", "load", "dbt_build",
                                 "publish"}
    assert dag.get_task("load").upstream_task_ids == {"pull_unit_batch", "validate"}
    assert dag.get_task("publish").upstream_task_ids == {"dbt_build"}
    assert dag.max_active_runs == 1
    assert "as_of_date" in dag.params


def test_pull_is_mapped_pooled_and_retried(dag):
    pull = dag.get_task("pull_unit_batch")
    assert pull.pool == "commune_portal"
    assert pull.retries == 2
    assert pull.map_index_template == "{{ batch_label }}"


def test_publish_emits_assets(dag):
    outlets = dag.get_task("publish").outlets
    assert {a.name for a in outlets} == {"commune_marts_serving", "commune_marts_parquet"}


def test_every_task_and_the_night_are_bounded_and_scheduled_from_settings(monkeypatch):
    from datetime import timedelta

    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("COMMUNE_SCHEDULE", "17 3 * * *")
    monkeypatch.setenv("COMMUNE_TASK_TIMEOUT_MINUTES", "7")
    monkeypatch.setenv("COMMUNE_DAGRUN_TIMEOUT_MINUTES", "50")
    monkeypatch.setenv("COMMUNE_TASK_RETRIES", "3")
    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    dag = bag.dags["commune_nightly"]
    assert dag.timetable.expression == "17 3 * * *"
    assert str(dag.timetable.timezone) == "Asia/Ho_Chi_Minh"
    assert dag.dagrun_timeout == timedelta(minutes=50)
    for task in dag.tasks:
        assert task.execution_timeout == timedelta(minutes=7), task.task_id
        assert task.retries == (2 if task.task_id == "pull_unit_batch" else 3), task.task_id


def test_the_default_schedule_is_01_00_local(dag):
    from datetime import timedelta

    assert dag.timetable.expression == "0 1 * * *"
    assert dag.dagrun_timeout == timedelta(hours=6)
    assert all(task.execution_timeout == timedelta(hours=2) for task in dag.tasks)


def test_the_steps_that_open_the_duckdb_files_go_to_the_warehouse_queue(monkeypatch):
    """CeleryExecutor: pulls on the queue any worker serves, the rest on the warehouse owner's."""
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("COMMUNE_PULL_QUEUE", "pulls")
    monkeypatch.setenv("COMMUNE_WAREHOUSE_QUEUE", "duckdb-owner")
    dag = DagBag(dag_folder=str(REPO_ROOT / "dags")).dags["commune_nightly"]
    assert {task.task_id: task.queue for task in dag.tasks} == {
        "pull_unit_batch": "pulls", **{name: "duckdb-owner" for name in
                                       ("preflight", "validate", "load", "dbt_build", "publish")}}


def test_a_dag_deployed_just_after_its_cron_time_waits_for_the_next_one(monkeypatch):
    """No immediate run for a night already begun, even minutes after the cron time."""
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.decoders import decode_timetable
    from airflow.serialization.encoders import encode_timetable
    from airflow.timetables.base import TimeRestriction

    just_past = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) - timedelta(minutes=2)
    monkeypatch.setenv("COMMUNE_SCHEDULE", f"{just_past.minute} {just_past.hour} * * *")
    dag = DagBag(dag_folder=str(REPO_ROOT / "dags")).dags["commune_nightly"]
    # What the scheduler runs: the DAG's timetable as the dag-processor serialises it.
    timetable = decode_timetable(encode_timetable(dag.timetable))
    first = timetable.next_dagrun_info(last_automated_data_interval=None,
                                       restriction=TimeRestriction(earliest=None, latest=None, catchup=False))
    assert first.run_after > datetime.now(UTC) + timedelta(hours=23), first
