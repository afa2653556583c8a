"""The Admin API operators, sensor, trigger and hook against the emulated Atlas project,
through real Airflow: one ``Workspace(admin_api=True)`` for the module, ``asp_admin_default``
(a Project Stream Processing Owner service account) pointing at it."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from asp_emulator import Workspace
from tests.support.airflow import PASSWORD, SOURCE

ROLE = "GROUP_STREAM_PROCESSING_OWNER"


@pytest.fixture(scope="module")
def admin_ws() -> Iterator[Workspace]:
    with Workspace(users={"admin": PASSWORD}, connections=[SOURCE], admin_api=True) as ws:
        yield ws


@pytest.fixture(scope="module")
def admin_secret(airflow_home: Path, admin_ws: Workspace) -> Iterator[str]:
    """``asp_admin_default`` for the module's tests; its client secret."""
    conn = admin_ws.airflow_admin_connection(ROLE)
    os.environ["AIRFLOW_CONN_ASP_ADMIN_DEFAULT"] = json.dumps(conn)
    yield conn["password"]
    os.environ.pop("AIRFLOW_CONN_ASP_ADMIN_DEFAULT", None)


@pytest.fixture(autouse=True)
def _admin(admin_secret: str, admin_ws: Workspace) -> Iterator[None]:
    yield
    admin_ws.clear_admin_faults()


@pytest.fixture
def admin_conn(
    admin_ws: Workspace, add_connection: Callable[[str, str], str]
) -> Callable[..., str]:
    """``admin_conn(conn_id, role=..., api_key=..., **extra)``: an ``asp_admin`` connection
    of its own for one test (extras changed or, set to None, removed)."""

    def make(conn_id: str, role: str = ROLE, *, api_key: bool = False, **extra: object) -> str:
        conn = admin_ws.airflow_admin_connection(role, api_key=api_key)
        conn["extra"] = {k: v for k, v in {**conn["extra"], **extra}.items() if v is not None}
        return add_connection(conn_id, json.dumps(conn))

    return make
