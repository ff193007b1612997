"""Which failures a retry can help (``commune_dx.retrying``): the portal's and the data's fail the
task at once through Airflow's own fail-without-retry exception; the infrastructure's keep the
task's retries."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException

from commune_dx.portal_client import ConnectionConfigError, PipelineError, PortalAuthError
from commune_dx.retrying import no_retry_on_pipeline_errors


def test_portal_and_data_errors_fail_without_retry_other_errors_keep_theirs():
    from airflow.sdk.exceptions import AirflowFailException

    from commune_dx.portal_client import PortalUnreachable
    from commune_dx.retrying import no_retry_on_pipeline_errors

    with pytest.raises(AirflowFailException, match="PortalUnreachable: the portal is down"):
        with no_retry_on_pipeline_errors():
            raise PortalUnreachable("the portal is down")
    with pytest.raises(ConnectionRefusedError):
        with no_retry_on_pipeline_errors():
            raise ConnectionRefusedError("api-server not listening yet")


@pytest.mark.parametrize("error", [PortalAuthError("the token was refused (HTTP 401)"),
                                   ConnectionConfigError("connection commune_portal has no host"),
                                   PipelineError("dbt build failed; nothing was published")])
def test_every_pipeline_error_fails_at_once_and_keeps_its_cause(error):
    with pytest.raises(AirflowFailException) as raised:
        with no_retry_on_pipeline_errors():
            raise error
    assert raised.value.__cause__ is error
    assert str(raised.value) == f"{type(error).__name__}: {error}"


def test_a_step_that_succeeds_is_left_alone():
    done = []
    with no_retry_on_pipeline_errors():
        done.append("pulled")
    assert done == ["pulled"]
