"""The fixture of the dbt project's tests: the hand-built raw layer of ``raw_layer.py``, built by
the real ``dbt build`` for two nights, once for every test in ``tests/dbt/``."""

from __future__ import annotations

import pytest

from tests.dbt.raw_layer import build_nights


@pytest.fixture(scope="package")
def nights(tmp_path_factory):
    """The marts after each night (``snapshots``), the build timings and the directories."""
    return build_nights(tmp_path_factory.mktemp("warehouse"), tmp_path_factory.mktemp("dbt"))
