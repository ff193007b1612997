"""Configuration in one place: paths, limits and defaults, read from the environment.

Everything a deployment may change is an environment variable; the portal's address and
token come only from the Airflow connection ``commune_portal``.
"""

from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from commune_dx.portal_client import PullBudget

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = Path(__file__).resolve().parent
CONTRACT_DIR = PACKAGE_DIR / "contract"
FORMS_DIR = CONTRACT_DIR / "forms"
# Shared with the demo portal, which reads the same communes list (include/reference_data).
REFERENCE_DIR = PACKAGE_DIR.parent / "reference_data"
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
EXPECTATIONS_DIR = REPO_ROOT / "expectations"
# The project's Airflow settings, read by the CLI (and written into airflow.cfg) and by Compose.
AIRFLOW_ENV_FILE = REPO_ROOT / "deploy" / "airflow.env"

# DuckDB's default memory limit is 80% of the machine's memory: a first load of years of history
# would take that much. The night's connections to the warehouse (load, dbt, publish) are capped
# instead and spill to a temporary directory beside the database beyond the cap.
DEFAULT_DUCKDB_MEMORY_LIMIT = "1GB"


def duckdb_config(**settings: str) -> dict[str, str]:
    """DuckDB configuration for the pipeline's connections: ``memory_limit`` from
    ``COMMUNE_DUCKDB_MEMORY_LIMIT`` (default ``DEFAULT_DUCKDB_MEMORY_LIMIT``), plus ``settings``."""
    limit = os.environ.get("COMMUNE_DUCKDB_MEMORY_LIMIT") or DEFAULT_DUCKDB_MEMORY_LIMIT
    return {"memory_limit": limit, **settings}


PORTAL_CONN_ID = "commune_portal"
PORTAL_POOL = "commune_portal"
LOCAL_TZ = "Asia/Ho_Chi_Minh"
KNOWN_FORM_VERSIONS = {1}
FORMS = (
    "task_report",
    "connectivity_report",
    "digital_skills_report",
    "public_service_report",
    "capacity_report",
)
MONTHLY_FORMS = ("connectivity_report", "digital_skills_report", "public_service_report")
QUARTERLY_FORMS = ("capacity_report",)
COMMUNE_LEVEL_TYPES = ("xa", "phuong", "dac_khu")

# The published marts, in the order the report and the Parquet export list them.
MART_TABLES = (
    "task_status",
    "task_completion",
    "task_watchlist",
    "phase_status",
    "phase_summary",
    "province_kpis",
    "connectivity_monthly",
    "connectivity_province_monthly",
    "digital_skills_monthly",
    "digital_skills_province_monthly",
    "public_services_monthly",
    "public_services_province_monthly",
    "capacity_quarterly",
    "capacity_province_quarterly",
    "reporting_completeness",
    "reporting_rate",
    "quarantine",
    "commune_scorecard",
    "unit_fix_list",
    "unit_pull_status",
)


def read_env_file(path: Path = AIRFLOW_ENV_FILE) -> dict[str, str]:
    """The ``KEY=VALUE`` lines of an env file (Compose's ``env_file`` format, without quoting)."""
    values = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ValueError(f"{path}:{number}: expected KEY=VALUE, got {line!r}")
        values[key.strip()] = value.strip()
    return values


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError as exc:
        raise ValueError(f"environment variable {name}={value!r} must be a number") from exc
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"environment variable {name}={value!r} must be a finite number >= 0")
    return number


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"environment variable {name}={value!r} must be an integer") from exc


def worker_hostname() -> str:
    """The host name Airflow records for a task (``[core] hostname_callable``):
    ``COMMUNE_WORKER_HOSTNAME`` when set (two Celery workers of ``make up`` on one machine), else
    the machine's FQDN, Airflow's default."""
    return os.environ.get("COMMUNE_WORKER_HOSTNAME") or socket.getfqdn()


@dataclass(frozen=True)
class Settings:
    """Run-time settings; build with :meth:`from_env`."""

    warehouse_dir: Path
    calendar_start: str
    units_per_batch: int
    pull_threads: int
    page_limit: int
    max_page_bytes: int
    max_submission_bytes: int
    max_attempts: int
    # Each unit's pull budget: pages, bytes and wall-clock seconds (retries and waits included).
    unit_max_pages: int
    unit_max_bytes: int
    unit_max_seconds: float
    # The share of the last night's units /units may lose before the night refuses to run.
    units_max_loss: float
    # Landing runs, night logs and Data Docs pages older than this many days are removed.
    retention_days: float
    # Fault injection for crash tests: hold the load's transaction open this long before COMMIT.
    load_commit_delay_seconds: float
    # When the scheduler starts a night: cron in LOCAL_TZ.
    schedule: str = "0 1 * * *"
    # Bounds: any one task, and the whole night.
    task_timeout_minutes: int = 120
    dagrun_timeout_minutes: int = 360
    # Retries of a task that failed for an infrastructure reason (api-server not listening yet,
    # metadata connection lost); portal and data errors are not retried (commune_dx.retrying).
    task_retries: int = 2
    retry_delay_seconds: int = 60
    # A night run without an explicit as_of_date reports on this day (the demo stack: the demo's
    # day) instead of the local day before the run's logical date. Empty: the usual rule.
    default_as_of_date: str = ""
    # Who hears about a failed night, or one with more failed units than the threshold.
    notify_emails: tuple[str, ...] = ()
    notify_from: str = "commune-dx@localhost"
    notify_failed_units: int = 0
    # Celery queues (the LocalExecutor ignores them): pulls go to one any worker serves; the steps
    # that open the DuckDB files go to one only the worker that owns them serves.
    pull_queue: str = "default"
    warehouse_queue: str = "warehouse"

    @classmethod
    def from_env(cls) -> Settings:
        warehouse = os.environ.get("WAREHOUSE_DIR") or str(REPO_ROOT / "data" / "warehouse")
        return cls(
            warehouse_dir=Path(warehouse).resolve(),
            calendar_start=os.environ.get("COMMUNE_CALENDAR_START", "2025-07"),
            units_per_batch=_env_int("COMMUNE_UNITS_PER_BATCH", 1000),
            pull_threads=_env_int("COMMUNE_PULL_THREADS", 4),
            page_limit=_env_int("COMMUNE_PAGE_LIMIT", 500),
            max_page_bytes=_env_int("COMMUNE_MAX_PAGE_BYTES", 32 * 1024 * 1024),
            max_submission_bytes=_env_int("COMMUNE_MAX_SUBMISSION_BYTES", 256 * 1024),
            max_attempts=_env_int("COMMUNE_MAX_ATTEMPTS", 6),
            unit_max_pages=_env_int("COMMUNE_UNIT_MAX_PAGES", 2_000),
            unit_max_bytes=_env_int("COMMUNE_UNIT_MAX_BYTES", 512 * 1024 * 1024),
            unit_max_seconds=_env_float("COMMUNE_UNIT_MAX_SECONDS", 900.0),
            units_max_loss=_env_float("COMMUNE_UNITS_MAX_LOSS", 0.1),
            retention_days=_env_float("COMMUNE_RETENTION_DAYS", 30.0),
            load_commit_delay_seconds=float(os.environ.get("COMMUNE_FAULT_LOAD_COMMIT_DELAY") or 0),
            schedule=os.environ.get("COMMUNE_SCHEDULE") or "0 1 * * *",
            task_timeout_minutes=_env_int("COMMUNE_TASK_TIMEOUT_MINUTES", 120),
            dagrun_timeout_minutes=_env_int("COMMUNE_DAGRUN_TIMEOUT_MINUTES", 360),
            task_retries=_env_int("COMMUNE_TASK_RETRIES", 2),
            retry_delay_seconds=_env_int("COMMUNE_RETRY_DELAY_SECONDS", 60),
            default_as_of_date=os.environ.get("COMMUNE_DEFAULT_AS_OF_DATE", ""),
            notify_emails=tuple(
                a.strip() for a in os.environ.get("COMMUNE_NOTIFY_EMAILS", "").split(",") if a.strip()
            ),
            notify_from=os.environ.get("COMMUNE_NOTIFY_FROM") or "commune-dx@localhost",
            notify_failed_units=_env_int("COMMUNE_NOTIFY_FAILED_UNITS", 0),
            pull_queue=os.environ.get("COMMUNE_PULL_QUEUE") or "default",
            warehouse_queue=os.environ.get("COMMUNE_WAREHOUSE_QUEUE") or "warehouse",
        )

    @property
    def pull_budget(self) -> PullBudget:
        """What one unit's pull may use."""
        from commune_dx.portal_client import PullBudget

        return PullBudget(self.unit_max_pages, self.unit_max_bytes, self.unit_max_seconds)

    @property
    def working_db(self) -> Path:
        """The warehouse the pipeline writes (raw layer + dbt models); never read by BI."""
        return self.warehouse_dir / "warehouse.duckdb"

    @property
    def serving_db(self) -> Path:
        """The published, read-only copy that analysts and BI tools open."""
        return self.warehouse_dir / "serving.duckdb"

    @property
    def parquet_dir(self) -> Path:
        return self.warehouse_dir / "marts"

    @property
    def exports_dir(self) -> Path:
        """Spreadsheet exports of the published marts: ``<table>.csv`` and ``marts.xlsx``."""
        return self.warehouse_dir / "exports"

    @property
    def report_path(self) -> Path:
        return self.warehouse_dir / "report.html"

    @property
    def gx_docs_dir(self) -> Path:
        """Great Expectations Data Docs of the latest night's validation."""
        return self.warehouse_dir / "gx_docs"

    @property
    def dbt_docs_dir(self) -> Path:
        """dbt's documentation site for the published marts."""
        return self.warehouse_dir / "dbt_docs"

    @property
    def dbt_target_dir(self) -> Path:
        return self.warehouse_dir / "dbt_target"
