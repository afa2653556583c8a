"""The ``asp_stack`` example DAG, as a user runs it (``airflow dags test``, sync and
deferrable), against an emulated project: a workspace, its connections, a processor and a
sample from nothing, then the teardown tasks; nothing is left behind, and no secret (the
service account's, the Kafka password, the database password) is in any output or file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from asp_core.admin import AdminClient, ServiceAccount
from asp_emulator import Workspace
from tests.support.airflow import PASSWORD
from tests.system.test_example_dags import dags_test, deferred

KAFKA_PASSWORD = "Stack-Kafka-pw-5521"
WORKSPACE = "asp-stack"


@pytest.fixture(scope="module")
def stack_ws() -> Iterator[Workspace]:
    """Connections READY and deletions done a second after they are asked for: the waits
    are real, and in deferrable mode they go to the trigger."""
    with Workspace(
        users={"admin": PASSWORD}, admin_api=True, admin_ready_delay=1.0, admin_delete_delay=1.0
    ) as ws:
        yield ws


def connections(ws: Workspace) -> tuple[dict[str, str], list[str]]:
    """The three connections the DAG uses, as environment variables; the secrets in them."""
    admin = ws.airflow_admin_connection("GROUP_STREAM_PROCESSING_OWNER")
    wire = ws.airflow_connection()
    del wire["host"], wire["port"]
    wire["extra"].update(admin_conn_id="asp_admin_default", workspace_name=WORKSPACE)
    kafka = {"conn_type": "generic", "login": "solar", "password": KAFKA_PASSWORD}
    env = {
        "AIRFLOW_CONN_ASP_ADMIN_DEFAULT": json.dumps(admin),
        "AIRFLOW_CONN_ASP_STACK": json.dumps(wire),
        "AIRFLOW_CONN_ASP_STACK_KAFKA": json.dumps(kafka),
    }
    return env, [admin["password"], KAFKA_PASSWORD, PASSWORD]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_asp_stack_builds_everything_and_leaves_nothing(
    airflow_home: Path, stack_ws: Workspace, deferrable: bool
) -> None:
    env, secrets = connections(stack_ws)
    run = dags_test(airflow_home, "asp_stack", deferrable=deferrable, env_extra=env)
    assert run.returncode == 0, run.output[-3000:]
    assert run.state == "success", run.states
    assert set(run.states.values()) == {"success"}, run.states
    assert deferred(run) is deferrable  # the READY and gone waits take a second
    assert run.values["create_workspace"]["action"] == "create"
    assert run.values["create_workspace"]["hostnames"]
    assert run.values["sample_ready"]["state"] == "READY"
    assert run.values["deploy_kafka"]["state"] == "READY"
    assert run.values["https_ready"]["state"] == "READY"
    sample = run.values["sample"]
    assert len(sample) == 5
    assert all(doc["obs"]["watts"] >= 100 for doc in sample)
    assert run.values["delete_workspace"] == {"workspace_name": WORKSPACE, "deleted": True}
    assert_nothing_left(stack_ws)
    for secret in secrets:
        assert secret not in run.output
        for path in airflow_home.rglob("*"):
            if path.is_file() and path.suffix != ".db":
                assert secret not in path.read_text(errors="replace"), path


def assert_nothing_left(ws: Workspace) -> None:
    """No workspace but the emulator's own, no connection or processor of the stack."""
    client = AdminClient(
        ws.project_id, ServiceAccount(*ws.service_account()), base_url=ws.admin_url,
        ca_file=ws.ca_file,
    )  # fmt: skip
    with client:
        assert [w["name"] for w in client.list_workspaces()] == [ws.workspace_name]
        own = {c["name"] for c in client.list_connections(ws.workspace_name)}
    assert not own & {"alerts", "solar_kafka"}
    assert ws.processors() == {}


@pytest.mark.timeout(300)
def test_a_middle_task_failing_still_tears_everything_down(
    airflow_home: Path, stack_ws: Workspace
) -> None:
    """The workspace's sample connection refuses to be looked at (403): the READY check of
    the middle fails at once, every task after it is skipped, yet each teardown whose setup
    succeeded runs and nothing is left; the next run builds and tears down the stack again."""
    env, _ = connections(stack_ws)
    sample = f"/api/atlas/v2/groups/{stack_ws.project_id}/streams/{WORKSPACE}/connections/"
    stack_ws.inject_admin_fault("GET", sample + "sample_stream_solar", status=403, times=-1)
    try:
        failed = dags_test(airflow_home, "asp_stack", deferrable=False, env_extra=env)
    finally:
        stack_ws.clear_admin_faults()
    assert failed.state == "failed", failed.states
    assert failed.states["create_workspace"] == "success"  # its setup did not wait
    assert failed.states["sample_ready"] == "failed"
    assert failed.states["create_processor"] == "upstream_failed"
    for teardown in ("delete_kafka", "delete_https", "delete_workspace"):
        assert failed.states[teardown] == "success", failed.states
    assert failed.values["delete_workspace"] == {"workspace_name": WORKSPACE, "deleted": True}
    assert_nothing_left(stack_ws)
    again = dags_test(airflow_home, "asp_stack", deferrable=False, env_extra=env)
    assert again.state == "success", again.states
    assert again.values["create_workspace"]["action"] == "create"
    assert_nothing_left(stack_ws)
