"""The workspace and connection operators through ``dag.test()`` against the emulated Admin
API: what they send (counted at the emulator), idempotency (a second run writes nothing),
the secrets kept out of XCom, rendered fields and logs, refusals before anything is sent,
and the core's unretryable errors failing a task without its retries."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest

from asp_core.stream_processing import StreamProcessingClient
from asp_emulator import Workspace
from tests.support.admin import requests
from tests.support.airflow import PASSWORD, SOURCE, pipeline

_names = itertools.count(1)
KAFKA_PASSWORD = "Kafka-s3cret-Pa55-0193"
HTTPS = {"type": "Https", "url": "https://hooks.example/solar"}


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


def dag(*tasks: str, retries: int = 0) -> str:
    """A DAG file's body: the Admin API operators, and ``tasks`` in a chain."""
    lines = "\n".join(f"    t{i} = {task}" for i, task in enumerate(tasks))
    chain = " >> ".join(f"t{i}" for i in range(len(tasks)))
    return (
        "from airflow_provider_asp.operators.admin import *  # noqa: F403\n"
        "from airflow_provider_asp.sensors.admin import *  # noqa: F403\n"
        'with DAG("{dag_id}", schedule=None, start_date=START, catchup=False,\n'
        f'         default_args={{"retries": {retries}}}) as dag:\n'
        f"{lines}\n    {chain}\n"
    )


def value(result: Any, task: str = "t") -> Any:
    return result.xcoms[(task, "return_value")]


@pytest.fixture
def run(run_dag: Callable[..., Any]) -> Callable[..., Any]:
    """Run one operator as task ``t`` of a DAG of its own (``dag.test()``)."""

    def go(call: str, **kwargs: Any) -> Any:
        return run_dag(dag(call.replace("(", '(task_id="t", ', 1), **kwargs))

    return go


# -- workspaces ---------------------------------------------------------------------------


def test_create_workspace_then_nothing_to_do(admin_ws: Workspace, run) -> None:
    name = unique("ws")
    call = (
        f"AspCreateWorkspaceOperator(workspace_name={name!r}, tier='SP10', sample_connections=True)"
    )
    with requests(admin_ws) as first:
        result = run(call)
    assert result.states == {"t": "success"}
    created = value(result)
    assert created["action"] == "create"
    assert created["stream_config"]["tier"] == "SP10"
    assert created["region"] == {"cloudProvider": "AWS", "region": "VIRGINIA_USA"}
    assert first.writes == {"POST with_sample": 1}
    with requests(admin_ws) as second:
        again = run(call)
    assert value(again)["action"] == "none"
    assert second.writes == {}
    assert second.total == 1  # one GET
    run(f"AspDeleteWorkspaceOperator(workspace_name={name!r})")


def test_a_different_tier_is_patched_or_refused(admin_ws: Workspace, run) -> None:
    name = unique("ws")
    run(f"AspCreateWorkspaceOperator(workspace_name={name!r}, tier='SP10')")
    with requests(admin_ws) as seen:
        refused = run(
            f"AspCreateWorkspaceOperator(workspace_name={name!r}, tier='SP30', if_differs='error')",
            retries=2,
        )
    assert refused.states == {"t": "failed"}  # AirflowFailException: no retry
    assert seen.writes == {}
    with requests(admin_ws) as seen:
        updated = run(f"AspCreateWorkspaceOperator(workspace_name={name!r}, tier='SP30')")
    assert value(updated)["action"] == "update"
    assert value(updated)["changed"] == ["streamConfig.tier"]
    assert value(updated)["stream_config"]["tier"] == "SP30"
    assert seen.writes == {"PATCH workspace": 1}
    run(f"AspDeleteWorkspaceOperator(workspace_name={name!r})")


def test_delete_workspace_waits_until_gone_and_is_idempotent(admin_ws: Workspace, run) -> None:
    name = unique("ws")
    run(f"AspCreateWorkspaceOperator(workspace_name={name!r})")
    deleted = run(f"AspDeleteWorkspaceOperator(workspace_name={name!r})")
    assert value(deleted) == {"workspace_name": name, "deleted": True}
    assert name not in admin_ws_names(admin_ws)
    with requests(admin_ws) as seen:
        again = run(f"AspDeleteWorkspaceOperator(workspace_name={name!r})")
    assert value(again) == {"workspace_name": name, "deleted": False}
    assert seen.writes == {}
    assert seen.total == 1


def admin_ws_names(ws: Workspace) -> list[str]:
    from airflow_provider_asp.hooks.admin import AspAdminHook

    with AspAdminHook() as hook:
        return [w["name"] for w in hook.get_conn().list_workspaces()]


def test_a_read_only_role_fails_at_once_naming_the_roles(admin_ws, admin_conn, run, capfd):
    conn_id = admin_conn("asp_admin_ro", role="GROUP_READ_ONLY")
    name = unique("ws")
    result = run(
        f"AspCreateWorkspaceOperator(workspace_name={name!r}, asp_admin_conn_id={conn_id!r})",
        retries=3,
    )
    assert result.states == {"t": "failed"}  # no retries: a role is no transient error
    out = capfd.readouterr().out
    assert "answered 403" in out
    assert "Project Owner or Project Stream Processing Owner" in out
    assert name not in admin_ws_names(admin_ws)


# -- connections --------------------------------------------------------------------------


def test_deploy_connection_create_unchanged_update(admin_ws: Workspace, run) -> None:
    ws, name = admin_ws.workspace_name, unique("hook")
    call = (
        f"AspDeployConnectionOperator(workspace_name={ws!r}, connection_name={name!r}, "
        f"definition={HTTPS!r})"
    )
    with requests(admin_ws) as first:
        created = value(run(call))
    assert created == {
        "workspace_name": ws,
        "connection_name": name,
        "action": "create",
        "changed": [],
        "state": "READY",
    }
    assert first.writes == {"POST connections": 1}
    with requests(admin_ws) as second:
        unchanged = value(run(call))
    assert unchanged["action"] == "none"
    assert unchanged["state"] == "READY"
    assert second.total == 1  # one GET, nothing else
    changed = call.replace("/solar", "/solar-v2")
    with requests(admin_ws) as third:
        updated = value(run(changed))
    assert (updated["action"], updated["changed"]) == ("update", ["url"])
    assert third.writes == {"PATCH connection": 1}
    deleted = value(
        run(f"AspDeleteConnectionOperator(workspace_name={ws!r}, connection_name={name!r})")
    )
    assert deleted == {"workspace_name": ws, "connection_name": name, "deleted": True}
    with requests(admin_ws) as fourth:
        again = value(
            run(f"AspDeleteConnectionOperator(workspace_name={ws!r}, connection_name={name!r})")
        )
    assert again["deleted"] is False
    assert (fourth.writes, fourth.total) == ({}, 1)


def test_secrets_come_from_a_connection_and_go_nowhere_else(
    admin_ws: Workspace, add_connection, run_dag, capfd
) -> None:
    ws, name = admin_ws.workspace_name, unique("kafka")
    secrets = add_connection(
        "kafka_secrets",
        json.dumps({"conn_type": "generic", "login": "solar", "password": KAFKA_PASSWORD}),
    )
    definition = {
        "type": "Kafka",
        "bootstrapServers": "broker-1:9092",
        "authentication": {"mechanism": "SCRAM-256"},
        "security": {"protocol": "SASL_SSL"},
    }
    call = (
        f'AspDeployConnectionOperator(task_id="t", workspace_name={ws!r}, '
        f"connection_name={name!r}, definition={definition!r}, secrets_conn_id={secrets!r})"
    )
    with requests(admin_ws) as seen:
        result = run_dag(dag(call))
    assert result.states == {"t": "success"}
    assert seen.writes == {"POST connections": 1}
    stored = admin_ws._admin_server().project.workspaces[ws].connections[name].doc
    assert stored["authentication"] == {
        "mechanism": "SCRAM-256",
        "username": "solar",
        "password": KAFKA_PASSWORD,
    }
    out = capfd.readouterr()
    assert "broker-1:9092" in json.dumps(result.rendered["t"])  # rendered fields were kept
    assert f"Connection {name!r} of workspace {ws!r}: create (absent)." in out.out  # logged
    everything = json.dumps([list(result.xcoms.values()), result.rendered]) + out.out + out.err
    assert KAFKA_PASSWORD not in everything
    # Atlas never shows the password, so a deploy with secrets sends them again: one PATCH
    with requests(admin_ws) as again:
        second = run_dag(dag(call))
    assert value(second)["action"] == "update"
    assert again.writes == {"PATCH connection": 1}
    # update_secrets=False: unchanged is one GET
    with requests(admin_ws) as quiet:
        third = run_dag(dag(call.replace(")", ", update_secrets=False)")))
    assert value(third)["action"] == "none"
    assert (quiet.writes, quiet.total) == ({}, 1)


def test_a_secret_in_the_definition_is_refused_before_anything_is_sent(
    admin_ws: Workspace, run, capfd
) -> None:
    definition = {
        "type": "Kafka",
        "bootstrapServers": "b:9092",
        "authentication": {"mechanism": "PLAIN", "username": "u", "password": KAFKA_PASSWORD},
    }
    ws, name = admin_ws.workspace_name, unique("kafka")
    with requests(admin_ws) as seen:
        result = run(
            f"AspDeployConnectionOperator(workspace_name={ws!r}, connection_name={name!r}, "
            f"definition={definition!r})",
            retries=2,
        )
    assert result.states == {"t": "failed"}
    assert seen.total == 0
    out = capfd.readouterr()
    assert "secret field(s) authentication.password" in out.out
    assert KAFKA_PASSWORD not in json.dumps(result.rendered) + out.out + out.err


def test_a_change_atlas_refuses_in_place_needs_allow_replace(admin_ws: Workspace, run) -> None:
    ws, name = admin_ws.workspace_name, unique("swap")
    base = f"AspDeployConnectionOperator(workspace_name={ws!r}, connection_name={name!r}, "
    run(base + f"definition={HTTPS!r})")
    sample = {"type": "Sample"}
    with requests(admin_ws) as seen:
        refused = run(base + f"definition={sample!r})", retries=2)
    assert refused.states == {"t": "failed"}
    assert seen.writes == {}
    with requests(admin_ws) as seen:
        replaced = value(run(base + f"definition={sample!r}, allow_replace=True)"))
    assert (replaced["action"], replaced["changed"], replaced["state"]) == (
        "replace",
        ["type"],
        "READY",
    )
    assert seen.writes == {"DELETE connection": 1, "POST connections": 1}
    run(f"AspDeleteConnectionOperator(workspace_name={ws!r}, connection_name={name!r})")


# -- logs ---------------------------------------------------------------------------------


def test_logs_are_downloaded_gzip_to_a_templated_path(admin_ws: Workspace, run, tmp_path) -> None:
    import gzip

    ws, name = admin_ws.workspace_name, unique("logged")
    admin_ws.fail_admin_connection(
        value(
            run(
                f"AspDeployConnectionOperator(workspace_name={ws!r}, connection_name={name!r}, "
                f"definition={HTTPS!r})"
            )
        )["connection_name"],
        "broker unreachable at 10.0.0.7",
    )
    with StreamProcessingClient(admin_ws.uri) as client:  # a command the audit log names
        client.stream_processors().create(name, pipeline(source=SOURCE))
        client.stream_processors().get(name).drop()
    target = str(tmp_path / "{{ ds }}-{{ params.kind }}.log.gz")
    results = {}
    for kind in ("operational", "audit"):
        result = run(
            f"AspDownloadLogsOperator(workspace_name={ws!r}, path={target!r}, kind={kind!r}, "
            f"params={{'kind': {kind!r}}}, "
            "start_time='{{ data_interval_start - macros.timedelta(hours=1) }}')"
        )
        assert result.states == {"t": "success"}
        results[kind] = value(result)
    for kind, got in results.items():
        assert got["kind"] == kind
        assert got["path"].endswith(f"-{kind}.log.gz")
        assert "{{" not in got["path"]  # rendered
        with open(got["path"], "rb") as file:
            data = file.read()
        assert got["bytes"] == len(data)
        lines = [json.loads(line) for line in gzip.decompress(data).decode().splitlines()]
        assert all(line["workspace"] == ws for line in lines)
        results[kind] = lines
    operational = [json.dumps(line) for line in results["operational"]]
    assert any("broker unreachable at 10.0.0.7" in line for line in operational)
    audit = [json.dumps(line) for line in results["audit"]]
    assert any("admin: createStreamProcessor" in line and name in line for line in audit)
    assert not any(PASSWORD in line for line in audit)


def test_logs_arguments_are_checked_before_anything_is_sent(admin_ws: Workspace, run) -> None:
    ws = admin_ws.workspace_name
    for bad in (
        "kind='debug'",
        "start_time='2024-01-01T00:00:00'",  # no offset: no instant
        "start_time='2024-01-02T00:00:00Z', end_time='2024-01-01T00:00:00Z'",
    ):
        with requests(admin_ws) as seen:
            result = run(
                f"AspDownloadLogsOperator(workspace_name={ws!r}, path='/tmp/x.gz', {bad})",
                retries=2,
            )
        assert result.states == {"t": "failed"}, bad
        assert seen.total == 0
