"""Who hears about a night: e-mail through Airflow's SMTP notifier when a step fails, or when a
night publishes with more failed units than ``COMMUNE_NOTIFY_FAILED_UNITS``.

Recipients: ``COMMUNE_NOTIFY_EMAILS`` (comma-separated; empty: no mail). The mail server is the
Airflow connection ``smtp_default`` (e.g. ``AIRFLOW_CONN_SMTP_DEFAULT``); the link to the run uses
Airflow's ``[api] base_url``.
"""

from __future__ import annotations

import html
import logging
from typing import Any
from urllib.parse import quote

from commune_dx.settings import Settings

log = logging.getLogger(__name__)


def run_url(dag_id: str, run_id: str) -> str:
    """The run's page in Airflow's UI."""
    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback="http://localhost:8080").rstrip("/")
    return f"{base}/dags/{dag_id}/runs/{quote(run_id, safe='')}"


def _night_of(context: Any, settings: Settings) -> str:
    from commune_dx.nightly import resolve_as_of_date

    param = (context.get("params") or {}).get("as_of_date") or settings.default_as_of_date
    try:
        return resolve_as_of_date(param, context.get("logical_date"))
    except Exception:  # a bad param is the failure being reported: name it as given
        return str(param)


def _send(context: Any, settings: Settings, subject: str, lines: list[str]) -> None:
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    body = "".join(f"<p>{html.escape(line)}</p>\n" for line in lines)
    # Rendered as a Jinja template by the notifier: keep the night's own text out of Jinja's way.
    body = "{% raw %}" + body + "{% endraw %}"
    notifier = SmtpNotifier(to=list(settings.notify_emails), from_email=settings.notify_from,
                            subject="{% raw %}" + subject + "{% endraw %}", html_content=body)
    notifier(context)
    log.info("notified %s: %s", ", ".join(settings.notify_emails), subject)


def notify_failed_step(context: Any) -> None:
    """``on_failure_callback`` of every task: a mail naming the night, the failed step and why."""
    settings = Settings.from_env()
    if not settings.notify_emails:
        return
    ti = context["ti"]
    run_id = context["run_id"]
    night = _night_of(context, settings)
    error = context.get("exception")
    error = getattr(error, "__cause__", None) or error  # the portal's or data's error, not its wrapper
    step = ti.task_id + (f" [{ti.map_index}]" if getattr(ti, "map_index", -1) >= 0 else "")
    _send(context, settings, f"commune_nightly FAILED: night {night}, step {ti.task_id}", [
        f"The night reporting on {night} failed in step {step} (run {run_id}).",
        f"Error: {type(error).__name__}: {error}" if error else "Error: see the task log.",
        "The published warehouse stays as it was before this run.",
        f"The run in Airflow: {run_url(ti.dag_id, run_id)}",
    ])


def failed_units(pulled: Any) -> list[dict[str, Any]]:
    """The units a night could not pull, from the mapped pulls' results: one list per batch, or
    the one batch's list itself (what Airflow gives back when the night had a single batch)."""
    units: list[dict[str, Any]] = []
    for item in pulled or []:
        units.extend(item if isinstance(item, list) else [item])
    return [unit for unit in units if isinstance(unit, dict) and unit.get("outcome") == "failed"]


def notify_failed_units(context: Any) -> None:
    """``on_success_callback`` of ``publish``: a mail when more units failed than the threshold."""
    settings = Settings.from_env()
    if not settings.notify_emails:
        return
    ti = context["ti"]
    pulled = ti.xcom_pull(task_ids="pull_unit_batch")
    failed = failed_units([pulled[i] for i in range(len(pulled))] if pulled else [])
    if len(failed) <= settings.notify_failed_units:
        return
    night = _night_of(context, settings)
    listed = ", ".join(f"{u['unit_code']} ({u.get('error') or 'failed'})" for u in failed[:50])
    _send(context, settings,
          f"commune_nightly: night {night} published with {len(failed)} unit(s) not received", [
              f"The night reporting on {night} published, but {len(failed)} unit(s) could not be "
              f"pulled (threshold {settings.notify_failed_units}); they show as not received and are "
              "caught up from their watermark the next night.",
              f"Failed units: {listed}" + (" …" if len(failed) > 50 else ""),
              f"The run in Airflow: {run_url(ti.dag_id, context['run_id'])}",
          ])
