"""Workspace and connection ops, against the emulated Admin API: a stack built and torn down
in one job with nothing left, deletes that wait until Atlas has finished, and errors in the
core's words without retries."""

import dagster as dg
import pytest

from asp_core.admin import AdminClient, ServiceAccount
from asp_emulator import Workspace
from dagster_asp import (
    asp_delete_connection_op,
    asp_delete_workspace_op,
    asp_deploy_connection_op,
    asp_ensure_workspace_op,
)
from dagster_support.admin import admin_resource, fail_once_created, requests_since, writes
from dagster_support.processors import unique


@pytest.fixture(scope="module")
def ws():
    with Workspace(admin_api=True, admin_ready_delay=0.2, admin_delete_delay=0.2) as workspace:
        yield workspace


@pytest.fixture(scope="module")
def slow_ws():
    """Connections stay PENDING (until a test makes them FAILED)."""
    with Workspace(admin_api=True, admin_ready_delay=3600) as workspace:
        yield workspace


@dg.job
def stack():
    made = asp_ensure_workspace_op()
    kafka = asp_deploy_connection_op.alias("deploy_kafka")(after=made)
    hooks = asp_deploy_connection_op.alias("deploy_hooks")(after=made)
    gone = [
        asp_delete_connection_op.alias("delete_kafka")(after=kafka),
        asp_delete_connection_op.alias("delete_hooks")(after=hooks),
    ]
    asp_delete_workspace_op(after=gone)


def stack_config(name: str) -> dict:
    wait = {"poll_interval": 0.05, "timeout": 30}
    return {
        "ops": {
            "asp_ensure_workspace_op": {
                "config": {"workspace_name": name, "sample_connections": True}
            },
            "deploy_kafka": {
                "config": {
                    **wait,
                    "workspace_name": name,
                    "connection_name": "events",
                    "definition": {
                        "type": "Kafka",
                        "bootstrapServers": "broker.example.com:9092",
                        "authentication": {"mechanism": "PLAIN", "username": "etl"},
                    },
                    "secret_env": {"authentication.password": "DG_OPS_KAFKA_PASSWORD"},
                }
            },
            "deploy_hooks": {
                "config": {
                    **wait,
                    "workspace_name": name,
                    "connection_name": "hooks",
                    "definition": {"type": "Https", "url": "https://hooks.example.com"},
                }
            },
            "delete_kafka": {
                "config": {**wait, "workspace_name": name, "connection_name": "events"}
            },
            "delete_hooks": {
                "config": {**wait, "workspace_name": name, "connection_name": "hooks"}
            },
            "asp_delete_workspace_op": {"config": {**wait, "workspace_name": name}},
        }
    }


def test_a_stack_built_and_torn_down_leaves_nothing(ws, monkeypatch):
    monkeypatch.setenv("DG_OPS_KAFKA_PASSWORD", "ops-kafka-password")
    admin = admin_resource(ws)
    name = unique("dgstack")
    before = ws.admin_request_counts()
    result = stack.execute_in_process(run_config=stack_config(name), resources={"asp_admin": admin})
    assert result.success
    made = result.output_for_node("asp_ensure_workspace_op")
    assert (made["workspace_name"], made["action"]) == (name, "create")
    assert result.output_for_node("deploy_kafka")["state"] == "READY"
    assert result.output_for_node("deploy_hooks")["action"] == "create"
    assert result.output_for_node("delete_kafka") == {"connection_name": "events",
                                                      "deleted": True}  # fmt: skip
    assert result.output_for_node("asp_delete_workspace_op")["deleted"] is True
    assert writes(requests_since(ws, before)) == {
        "POST with_sample": 1,
        "POST connections": 2,
        "DELETE connection": 2,
        "DELETE workspace": 1,
    }
    client_id, secret = ws.service_account()
    with AdminClient(
        ws.project_id, ServiceAccount(client_id, secret), base_url=ws.admin_url,
        ca_file=ws.ca_file,
    ) as client:  # fmt: skip
        assert name not in {w["name"] for w in client.list_workspaces()}

    again = stack.execute_in_process(
        run_config={"ops": {"asp_delete_workspace_op": stack_config(name)["ops"][
            "asp_delete_workspace_op"]}},
        resources={"asp_admin": admin},
        op_selection=["asp_delete_workspace_op"],
    )  # fmt: skip
    assert again.output_for_node("asp_delete_workspace_op")["deleted"] is False


def run_op(op, admin, **config):
    @dg.job(resource_defs={"asp_admin": admin})
    def one_op():
        op()

    return one_op.execute_in_process(
        run_config={"ops": {op.name: {"config": config}}}, raise_on_error=False
    )


def failure_words(result) -> str:
    assert not result.success
    (failure,) = result.get_step_failure_events()
    data = failure.step_failure_data.user_failure_data
    assert data is not None  # a dg.Failure: no retries
    return data.description or ""


def test_a_secret_in_the_definition_is_refused_before_anything_is_sent(ws):
    admin = admin_resource(ws)
    before = ws.admin_request_counts()
    words = failure_words(
        run_op(
            asp_deploy_connection_op,
            admin,
            workspace_name=ws.workspace_name,
            connection_name="k",
            definition={"type": "Kafka", "authentication": {"password": "in-run-config"}},
        )
    )
    assert "carries secret field(s) authentication.password" in words
    assert "in-run-config" not in words
    assert requests_since(ws, before) == {}


def test_a_secret_variable_that_is_not_set_is_named(ws, monkeypatch):
    monkeypatch.delenv("DG_UNSET_SECRET", raising=False)
    words = failure_words(
        run_op(
            asp_deploy_connection_op,
            admin_resource(ws),
            workspace_name=ws.workspace_name,
            connection_name="k2",
            definition={"type": "Kafka", "bootstrapServers": "b:9092"},
            secret_env={"authentication.password": "DG_UNSET_SECRET"},
        )
    )
    assert words == (
        "connection 'k2': environment variable 'DG_UNSET_SECRET' "
        "(for authentication.password) is not set."
    )


def test_a_connection_failing_while_awaited_fails_the_op_at_once(slow_ws):
    name = unique("dgopfail")
    join = fail_once_created(slow_ws, name, "bootstrap servers unreachable")
    result = run_op(
        asp_deploy_connection_op,
        admin_resource(slow_ws),
        workspace_name=slow_ws.workspace_name,
        connection_name=name,
        definition={"type": "Kafka", "bootstrapServers": "b:9092"},
        poll_interval=0.05,
        timeout=600,
    )
    join()
    assert failure_words(result) == (
        f"connection {name!r} of workspace {slow_ws.workspace_name!r} is FAILED: "
        "Atlas reports the connection FAILED without a message"
    )


def test_deleting_what_is_absent_is_one_look(ws):
    admin = admin_resource(ws)
    before = ws.admin_request_counts()
    result = run_op(
        asp_delete_connection_op,
        admin,
        workspace_name=ws.workspace_name,
        connection_name=unique("absent"),
    )
    assert result.output_for_node("asp_delete_connection_op")["deleted"] is False
    assert {k: n for k, n in requests_since(ws, before).items() if "token" not in k} == {
        "GET connection": 1
    }


def test_the_emulators_own_workspace_cannot_be_deleted_and_says_so(ws):
    words = failure_words(
        run_op(asp_delete_workspace_op, admin_resource(ws), workspace_name=ws.workspace_name)
    )
    assert "answered 400" in words
    assert "cannot be deleted" in words
