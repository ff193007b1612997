"""
### commune_nightly — the province's digital-transformation KPIs, night by night

Pulls every reporting unit's submissions from the provincial reporting portal (Airflow
connection `commune_portal`), validates them (JSON Schema + Great Expectations; bad versions
are quarantined with their reasons), loads them into the raw layer of the working DuckDB
warehouse, builds the KPI marts with one `dbt build`, and publishes `serving.duckdb`, Parquet
copies and the HTML report under `WAREHOUSE_DIR`.

preflight → pull_unit_batch (mapped over batches of units) → validate → load → dbt_build → publish

A unit that stays unreachable after its retries, or goes over its pull budget (pages, bytes,
seconds), is shown as not received with the reason and caught up from its watermark the next
night; a down portal, a refused token, a malformed connection or a `/units` that is empty or
shrank sharply fail the run in `preflight`, leaving the published warehouse as it was.

Param `as_of_date` (YYYY-MM-DD): the day the run reports on; default the local day before the
run's logical date.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, CronTriggerTimetable, Param, dag, get_current_context, task

from commune_dx.settings import PORTAL_CONN_ID, PORTAL_POOL, Settings

# Stable identities (not paths, which vary with WAREHOUSE_DIR) that downstream DAGs schedule on.
SERVING_ASSET = Asset("commune_marts_serving")
PARQUET_ASSET = Asset("commune_marts_parquet")


def _portal_config():
    """The portal's URL and token from connection `commune_portal`, or one clear error."""
    from airflow.sdk import BaseHook

    from commune_dx.portal_client import ConnectionConfigError, PortalConfig

    try:
        conn = BaseHook.get_connection(PORTAL_CONN_ID)
    except Exception as exc:  # not found, or an unparsable AIRFLOW_CONN_COMMUNE_PORTAL
        raise ConnectionConfigError(
            f"connection {PORTAL_CONN_ID!r} is missing or malformed ({type(exc).__name__}: "
            f"{exc}); set it, e.g. AIRFLOW_CONN_COMMUNE_PORTAL='{{\"conn_type\": \"http\", "
            f"\"host\": \"http://127.0.0.1:8765\", \"password\": \"TOKEN\"}}'"
        ) from exc
    return PortalConfig.from_connection_fields(
        PORTAL_CONN_ID, conn.host, conn.password, conn.schema, conn.port
    )


def _night() -> tuple[str, str]:
    """This run's (as_of_date, run_key), the same in every task of the run."""
    from commune_dx.nightly import resolve_as_of_date
    from commune_dx.pulling import run_key

    context = get_current_context()
    as_of = resolve_as_of_date(context["params"].get("as_of_date"), context.get("logical_date"))
    return as_of, run_key(as_of, context["run_id"])


@dag(
    dag_id="commune_nightly",
    schedule=CronTriggerTimetable("0 1 * * *", timezone="Asia/Ho_Chi_Minh"),
    start_date=pendulum.datetime(2025, 7, 1, tz="Asia/Ho_Chi_Minh"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["commune", "nightly"],
    params={
        "as_of_date": Param(
            None,
            type=["null", "string"],
            pattern=r"^\d{4}-\d{2}-\d{2}$",
            description="Reporting day YYYY-MM-DD; empty = the local day before the logical date.",
        )
    },
    default_args={"retries": 0},
)
def commune_nightly():
    @task
    def preflight() -> list[dict]:
        """Check portal and token, snapshot units and tasks; return the pull batches."""
        from commune_dx.nightly import preflight as run_preflight

        as_of, key = _night()
        return run_preflight(_portal_config(), Settings.from_env(), as_of, key)

    @task(
        pool=PORTAL_POOL,
        retries=2,
        retry_delay=timedelta(seconds=30),
        retry_exponential_backoff=True,
        map_index_template="{{ batch_label }}",
    )
    def pull_unit_batch(batch: dict) -> list[dict]:
        from airflow.sdk.exceptions import AirflowFailException

        from commune_dx.nightly import pull
        from commune_dx.portal_client import PipelineError

        get_current_context()["batch_label"] = batch["label"]
        try:
            return pull(_portal_config(), Settings.from_env(), _night()[1], batch)
        except PipelineError as exc:
            # Every unit's own trouble is in its result; what reaches here (a refused token, a
            # malformed connection) no retry of the batch can fix.
            raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc

    @task
    def validate(pulled: list) -> dict:
        from commune_dx.nightly import prestart_dbt
        from commune_dx.nightly import validate as run_validate

        as_of, key = _night()
        # dbt's start-up (imports, parsing the project) runs on the other core meanwhile; it
        # opens the warehouse only when dbt_build asks, after the load.
        prestart_dbt(Settings.from_env(), as_of, key)
        return run_validate(Settings.from_env(), key)

    @task
    def load(pulled: list, validated: dict) -> dict:
        from commune_dx.nightly import load as run_load

        as_of, key = _night()
        # One list per mapped pull; index the lazy sequence (iterating it probes one past the end).
        results = [unit for i in range(len(pulled)) for unit in pulled[i]]
        return run_load(Settings.from_env(), key, get_current_context()["run_id"], as_of, results)

    @task
    def dbt_build(loaded: dict) -> dict:
        from commune_dx.nightly import dbt_build as run_dbt

        as_of, key = _night()
        return run_dbt(Settings.from_env(), as_of, key)

    @task(outlets=[SERVING_ASSET, PARQUET_ASSET])
    def publish(built: dict) -> dict:
        from commune_dx.nightly import publish as run_publish

        return run_publish(Settings.from_env(), _night()[0])

    pulled = pull_unit_batch.expand(batch=preflight())
    validated = validate(pulled)
    publish(dbt_build(load(pulled, validated)))


commune_nightly()
