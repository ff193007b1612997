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

Param `as_of_date` (YYYY-MM-DD): the day the run reports on; default `COMMUNE_DEFAULT_AS_OF_DATE`
if set (the demo stack: the demo's day), else the local day before the run's logical date.

Bounded and retried from settings: `COMMUNE_SCHEDULE` (cron, Asia/Ho_Chi_Minh),
`COMMUNE_TASK_TIMEOUT_MINUTES` per task, `COMMUNE_DAGRUN_TIMEOUT_MINUTES` per night,
`COMMUNE_TASK_RETRIES` for infrastructure failures (portal and data errors are not retried).
Queues (CeleryExecutor; the LocalExecutor ignores them): pulls on `COMMUNE_PULL_QUEUE` (any
worker), the steps that open the DuckDB files (preflight, validate, load, dbt_build, publish) on
`COMMUNE_WAREHOUSE_QUEUE` (only the worker that owns them).
Watched: e-mail to `COMMUNE_NOTIFY_EMAILS` when a step fails or more units than
`COMMUNE_NOTIFY_FAILED_UNITS` could not be pulled (commune_dx.notifying).
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Asset, CronTriggerTimetable, Param, dag, get_current_context, task

from commune_dx.notifying import notify_failed_step, notify_failed_units
from commune_dx.retrying import no_retry_on_pipeline_errors
from commune_dx.settings import LOCAL_TZ, PORTAL_CONN_ID, PORTAL_POOL, Settings

# Stable identities (not paths, which vary with WAREHOUSE_DIR) that downstream DAGs schedule on.
SERVING_ASSET = Asset("commune_marts_serving")
PARQUET_ASSET = Asset("commune_marts_parquet")
SETTINGS = Settings.from_env()  # environment only, no I/O


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
    from commune_dx.landing import run_key
    from commune_dx.nightly import resolve_as_of_date

    context = get_current_context()
    param = context["params"].get("as_of_date") or Settings.from_env().default_as_of_date
    as_of = resolve_as_of_date(param, context.get("logical_date"))
    return as_of, run_key(as_of, context["run_id"])


@dag(
    dag_id="commune_nightly",
    # No start_date: the first scheduled night is the next cron time after the DAG is deployed or
    # unpaused, never an immediate run for a day already begun. A one-minute buffer, not False
    # (which still runs a cron time up to a tenth of the interval old) and not zero (the
    # dag-processor re-parses the file every 30 s: a parse just after the cron time, before the
    # scheduler created the run, would move the first night to the next day).
    schedule=CronTriggerTimetable(SETTINGS.schedule, timezone=LOCAL_TZ,
                                  run_immediately=timedelta(minutes=1)),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=SETTINGS.dagrun_timeout_minutes),
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
    default_args={
        "retries": SETTINGS.task_retries,
        "retry_delay": timedelta(seconds=SETTINGS.retry_delay_seconds),
        "execution_timeout": timedelta(minutes=SETTINGS.task_timeout_minutes),
        # E-mail to COMMUNE_NOTIFY_EMAILS when a step fails for good (not on a retry).
        "on_failure_callback": notify_failed_step,
    },
)
def commune_nightly():
    # preflight reads the watermarks from the working warehouse: it runs where the DuckDB files are.
    @task(queue=SETTINGS.warehouse_queue)
    @no_retry_on_pipeline_errors()
    def preflight() -> list[dict]:
        """Check portal and token, snapshot units and tasks; return the pull batches."""
        from commune_dx.nightly import preflight as run_preflight

        as_of, key = _night()
        return run_preflight(_portal_config(), Settings.from_env(), as_of, key)

    @task(
        pool=PORTAL_POOL,
        queue=SETTINGS.pull_queue,
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

    @task(queue=SETTINGS.warehouse_queue)
    @no_retry_on_pipeline_errors()
    def validate(pulled: list) -> dict:
        from commune_dx.nightly import validate as run_validate

        return run_validate(Settings.from_env(), _night()[1])

    @task(queue=SETTINGS.warehouse_queue)
    @no_retry_on_pipeline_errors()
    def load(pulled: list, validated: dict) -> dict:
        from commune_dx.nightly import load as run_load

        as_of, key = _night()
        # One list per mapped pull; index the lazy sequence (iterating it probes one past the end).
        results = [unit for i in range(len(pulled)) for unit in pulled[i]]
        return run_load(Settings.from_env(), key, get_current_context()["run_id"], as_of, results)

    @task(queue=SETTINGS.warehouse_queue)
    @no_retry_on_pipeline_errors()
    def dbt_build(loaded: dict) -> dict:
        from commune_dx.nightly import dbt_build as run_dbt

        return run_dbt(Settings.from_env(), _night()[0])

    @task(outlets=[SERVING_ASSET, PARQUET_ASSET], on_success_callback=notify_failed_units,
          queue=SETTINGS.warehouse_queue)
    @no_retry_on_pipeline_errors()
    def publish(built: dict) -> dict:
        from commune_dx.nightly import publish as run_publish

        return run_publish(Settings.from_env(), _night()[0])

    pulled = pull_unit_batch.expand(batch=preflight())
    validated = validate(pulled)
    publish(dbt_build(load(pulled, validated)))


commune_nightly()
