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
#: The ``asp_admin`` connection of :func:`slow_ws`.
SLOW_CONN = "asp_admin_slow"


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


@pytest.fixture(scope="module")
def slow_ws(airflow_home: Path) -> Iterator[Workspace]:
    """A project whose connections turn READY, and whose deletions finish, only when the
    test says so (``finish_admin_transitions``); ``asp_admin_slow`` points at it."""
    with Workspace(admin_api=True, admin_ready_delay=3600, admin_delete_delay=3600) as ws:
        variable = f"AIRFLOW_CONN_{SLOW_CONN.upper()}"
        os.environ[variable] = json.dumps(ws.airflow_admin_connection(ROLE))
        yield ws
        os.environ.pop(variable, None)
