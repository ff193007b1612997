"""Which failures of a nightly task a retry can help.

A task fails for one of two kinds of reasons. The portal or the data (a down portal, a refused
token, a red dbt build: :class:`~commune_dx.portal_client.PipelineError`) would fail the same way
a minute later, so the task fails at once and says why. Anything else (the api-server not
listening yet when the task starts, a lost metadata connection, a killed worker) is the
infrastructure's, and the task's ``retries`` give it another chance.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from commune_dx.portal_client import PipelineError


@contextmanager
def no_retry_on_pipeline_errors() -> Iterator[None]:
    """Turn a :class:`PipelineError` into Airflow's fail-without-retry; let other errors through."""
    try:
        yield
    except PipelineError as exc:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc
