"""
### bench_floor — the Airflow floor: three trivial tasks, run like the nightly DAG

What `airflow dags test` costs before any work is done (parsing, the metadata database, the
in-process execution API, three task runs); `bench/run_bench.py` compares the nightly DAG with it.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="bench_floor",
    schedule=None,
    start_date=pendulum.datetime(2025, 7, 1, tz="Asia/Ho_Chi_Minh"),
    catchup=False,
    doc_md=__doc__,
    tags=["bench"],
)
def bench_floor():
    @task
    def first() -> int:
        return 1

    @task
    def second(value: int) -> int:
        return value + 1

    @task
    def third(value: int) -> int:
        return value + 1

    third(second(first()))


bench_floor()
