"""Airflow on PostgreSQL: a private cluster for the module, and the switch.

``ASP_POSTGRES_TESTS`` is the switch, as ``ASP_BROWSER_TESTS`` is the browser test's:
``0`` skips these tests, ``1`` makes PostgreSQL that is missing and cannot be installed a
failure, unset runs them when PostgreSQL is there or can be installed (root with apt-get:
Debian's ``postgresql``), and skips otherwise. They are marked ``system``:
``pytest -m system`` runs them alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support import postgres

SWITCH = "ASP_POSTGRES_TESTS"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "system: real Airflow deployments on PostgreSQL (ASP_POSTGRES_TESTS=0 skips)"
    )


def _switch() -> str:
    return os.environ.get(SWITCH, "").strip().lower()


@pytest.fixture(autouse=True)
def _airflow() -> None:
    """These tests start their own Airflow (the parent conftest's in-process SQLite home
    and session workspace are not theirs)."""


@pytest.fixture(scope="module")
def postgres_cluster() -> Iterator[postgres.PostgresCluster]:
    """A private PostgreSQL cluster on 127.0.0.1, stopped and removed afterwards."""
    if _switch() in {"0", "false", "no", "off"}:
        pytest.skip(f"{SWITCH}=0: PostgreSQL system tests switched off")
    try:
        bin_dir = postgres.ensure_installed()
    except postgres.PostgresUnavailable as exc:
        if _switch() in {"1", "true", "yes", "on"}:
            pytest.fail(f"{SWITCH}=1 but: {exc}")
        pytest.skip(f"{exc}; set {SWITCH}=1 to make this a failure")
    cluster = postgres.start(bin_dir)
    try:
        yield cluster
    finally:
        postgres.stop(cluster)
    assert not cluster.directory.exists(), f"{cluster.directory} was not removed"
