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
