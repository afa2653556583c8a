"""The waits of the Admin API operators and the READY sensor, in the worker and (the same
judgment) in the triggerer, against an emulated project whose connections stay PENDING and
whose deletions stay pending until the test lets them finish (``finish_admin_transitions``
once the waiting code has looked): no timing luck."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

from airflow_provider_asp.operators.admin import (
    AspDeleteConnectionOperator,
    AspDeleteWorkspaceOperator,
    AspDeployConnectionOperator,
)
from airflow_provider_asp.sensors.admin import AspConnectionReadySensor
from airflow_provider_asp.triggers.admin import AdminWait
from asp_core.admin.errors import AdminConnectionFailedError, AdminWaitTimeoutError
from asp_emulator import Workspace
from tests.integration.airflow_admin.conftest import SLOW_CONN as CONN
from tests.support.admin import after_requests, requests
from tests.support.tasks import run_deferring

HTTPS = {"type": "Https", "url": "https://hooks.example/slow"}
FAST = {"poll_interval": 0.05, "timeout": 20}
MODES = ("sync", "deferrable")


def args(ws: Workspace, mode: str, **more: Any) -> dict[str, Any]:
    return {
        "task_id": "t",
        "workspace_name": ws.workspace_name,
        "asp_admin_conn_id": CONN,
        "deferrable": mode == "deferrable",
        **FAST,
        **more,
    }


def run(task: Any) -> tuple[Any, int]:
    """The task run as Airflow runs it (deferrals through the trigger); its result and how
    many times it deferred."""
    result, deferrals = run_deferring(task)
    return result, len(deferrals)


@pytest.mark.parametrize("mode", MODES)
def test_deploy_waits_until_ready(slow_ws: Workspace, mode: str) -> None:
    name = f"pending-{mode}"
    task = AspDeployConnectionOperator(
        connection_name=name, definition=HTTPS, **args(slow_ws, mode)
    )
    with after_requests(slow_ws, "GET connection", 2, slow_ws.finish_admin_transitions):
        result, deferred = run(task)
    assert result == {
        "workspace_name": slow_ws.workspace_name,
        "connection_name": name,
        "action": "create",
        "changed": [],
        "state": "READY",
    }
    assert deferred == (1 if mode == "deferrable" else 0)


@pytest.mark.parametrize("mode", MODES)
def test_delete_connection_waits_until_gone(slow_ws: Workspace, mode: str) -> None:
    name = f"doomed-{mode}"
    AspDeployConnectionOperator(
        connection_name=name, definition=HTTPS, **args(slow_ws, "sync", wait_for_completion=False)
    ).execute({})
    slow_ws.finish_admin_transitions()
    task = AspDeleteConnectionOperator(connection_name=name, **args(slow_ws, mode))
    with after_requests(slow_ws, "GET connection", 2, slow_ws.finish_admin_transitions):
        result, deferred = run(task)
    assert result["deleted"] is True
    assert deferred == (1 if mode == "deferrable" else 0)
    with requests(slow_ws) as seen:
        look = AdminWait("gone", slow_ws.workspace_name, name).wait(task.hook.get_conn(), 0, 1)
    assert look.status == "success"
    assert seen.total == 1


@pytest.mark.parametrize("mode", MODES)
def test_delete_workspace_waits_until_gone(slow_ws: Workspace, mode: str) -> None:
    from airflow_provider_asp.hooks.admin import AspAdminHook

    name = f"ws-{mode}"
    with AspAdminHook(CONN) as hook:
        hook.get_conn().create_workspace(name)
    task = AspDeleteWorkspaceOperator(**args(slow_ws, mode, workspace_name=name))
    with after_requests(slow_ws, "GET workspace", 2, slow_ws.finish_admin_transitions):
        result, deferred = run(task)
    assert result == {"workspace_name": name, "deleted": True}
    assert deferred == (1 if mode == "deferrable" else 0)


@pytest.mark.parametrize("mode", MODES)
def test_a_wait_is_bounded(slow_ws: Workspace, mode: str) -> None:
    name = f"never-{mode}"
    task = AspDeployConnectionOperator(
        connection_name=name, definition=HTTPS, **{**args(slow_ws, mode), "timeout": 0.5}
    )
    with pytest.raises(AdminWaitTimeoutError, match=f"connection '{name}' .* READY: not within"):
        run(task)
    slow_ws.finish_admin_transitions()


@pytest.mark.parametrize("mode", MODES)
def test_the_sensor_waits_for_ready(slow_ws: Workspace, mode: str) -> None:
    name = f"sensed-{mode}"
    AspDeployConnectionOperator(
        connection_name=name, definition=HTTPS, **args(slow_ws, "sync", wait_for_completion=False)
    ).execute({})
    sensor = AspConnectionReadySensor(
        task_id="s",
        workspace_name=slow_ws.workspace_name,
        connection_name=name,
        asp_admin_conn_id=CONN,
        deferrable=mode == "deferrable",
        poke_interval=0.05,
        timeout=20,
    )
    with after_requests(slow_ws, "GET connection", 2, slow_ws.finish_admin_transitions):
        result, deferred = run(sensor)
    assert result == {
        "workspace_name": slow_ws.workspace_name,
        "connection_name": name,
        "state": "READY",
    }
    assert deferred == (1 if mode == "deferrable" else 0)


@pytest.mark.parametrize("mode", MODES)
def test_the_sensor_fails_at_once_on_a_missing_connection(slow_ws: Workspace, mode: str) -> None:
    sensor = AspConnectionReadySensor(
        task_id="s",
        workspace_name=slow_ws.workspace_name,
        connection_name="absent",
        asp_admin_conn_id=CONN,
        deferrable=mode == "deferrable",
        poke_interval=0.05,
        timeout=20,
    )
    with pytest.raises(AirflowFailException, match=r"'absent' of workspace .* does not exist"):
        run(sensor)


def test_the_sensor_times_out(slow_ws: Workspace) -> None:
    sensor = AspConnectionReadySensor(
        task_id="s",
        workspace_name=slow_ws.workspace_name,
        connection_name="late",
        asp_admin_conn_id=CONN,
        missing_ok=True,
        deferrable=True,
        poke_interval=0.05,
        timeout=0.5,
    )
    with pytest.raises(AirflowSensorTimeout, match=r"'late' .* READY: not within"):
        run(sensor)


def test_judgments() -> None:
    wait = AdminWait("ready", "w", "c")
    assert wait.judge({"state": "PENDING"}).status == "pending"
    assert wait.judge({"state": "READY"}).status == "success"
    assert wait.judge({}).status == "success"  # no state: an older answer, READY
    failed = wait.judge({"state": "FAILED", "errorMessage": "broker unreachable"})
    assert (failed.status, failed.message) == (
        "failed",
        "connection 'c' of workspace 'w' is FAILED: broker unreachable",
    )
    with pytest.raises(AdminConnectionFailedError, match="broker unreachable"):
        failed.raise_unless_success()
    assert wait.judge(None).status == "failed"
    assert AdminWait("ready", "w", "c", missing_ok=True).judge(None).status == "pending"
    gone = AdminWait("gone", "w", "c")
    assert gone.judge({"state": "DELETING"}).status == "pending"
    assert gone.judge(None).status == "success"
    assert AdminWait("gone", "w").judge({"name": "w"}).message == "workspace 'w' is still there."


@pytest.mark.parametrize("mode", MODES)
def test_a_failed_connection_fails_the_task_at_once(slow_ws: Workspace, mode: str) -> None:
    name = f"failing-{mode}"
    task = AspDeployConnectionOperator(
        connection_name=name, definition=HTTPS, **args(slow_ws, mode)
    )

    def fail() -> None:
        slow_ws.fail_admin_connection(name, "broker unreachable")

    with (
        after_requests(slow_ws, "GET connection", 2, fail),
        pytest.raises(AirflowFailException, match=f"connection '{name}' .* is FAILED"),
    ):
        run(task)


def test_one_look_at_a_pending_connection_says_what_it_saw(slow_ws: Workspace) -> None:
    from airflow_provider_asp.hooks.admin import AspAdminHook

    name = "still-pending"
    with AspAdminHook(CONN) as hook:
        client = hook.get_conn()
        client.create_connection(slow_ws.workspace_name, {"name": name, **HTTPS})
        look = AdminWait("ready", slow_ws.workspace_name, name).wait(client, 0, 1)
        client.delete_connection(slow_ws.workspace_name, name)
    assert look.status == "pending"
    assert look.message.endswith("is not READY yet (last seen: state PENDING).")
