"""Example DAGs, real Airflow processes and the browser, against the emulator."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _airflow(asp_default: None) -> None:
    """A migrated Airflow database and ``asp_default`` pointing at the workspace."""
