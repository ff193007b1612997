"""Every test in this folder runs nights of the real DAG: it is marked ``e2e`` whether or not its
file says so, so that ``pytest -m "not e2e"`` leaves them all out."""

from __future__ import annotations

from pathlib import Path

import pytest

E2E_DIR = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)
