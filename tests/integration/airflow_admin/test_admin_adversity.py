"""The Admin API operators under adversity, against the emulated project: secrets pulled into
a templated definition, DEBUG logs, retries after an effect (a create, a 202, a sample
connection still PENDING), a replace whose answers are lost, a connection being deleted, a
silent Admin API in the worker and in the triggerer (the try's timeout holds), and a 403 in
the triggerer raised with the worker's words. Each change is driven by the emulator's knobs
once the code under test has looked; nothing waits for luck."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from airflow_provider_asp import example_dags
from airflow_provider_asp.hooks.admin import AspAdminHook
from airflow_provider_asp.operators.admin import (
    AspCreateWorkspaceOperator,
    AspDeleteConnectionOperator,
    AspDeleteWorkspaceOperator,
    AspDeployConnectionOperator,
)
from asp_core.admin import AdminForbiddenError, AdminTimeoutError, AdminWaitTimeoutError
from asp_emulator import Workspace
from tests.integration.airflow_admin.conftest import SLOW_CONN
from tests.integration.airflow_admin.test_admin_operators import dag, unique
from tests.support.admin import after_requests, requests
from tests.support.tasks import only_event, rebuilt, run_deferring

SECRET = "Templated-s3cret-Pa55-4821"
HTTPS = {"type": "Https", "url": "https://hooks.example/adversity"}
MODES = ("sync", "deferrable")


def args(ws: Workspace, mode: str = "sync", **more: Any) -> dict[str, Any]:
    return {
        "task_id": "t",
        "workspace_name": ws.workspace_name,
        "asp_admin_conn_id": SLOW_CONN,
        "deferrable": mode == "deferrable",
        "poll_interval": 0.05,
        "timeout": 20,
        **more,
    }


def connection_path(ws: Workspace, name: str, workspace: str | None = None) -> str:
    where = workspace or ws.workspace_name
    return f"/api/atlas/v2/groups/{ws.project_id}/streams/{where}/connections/{name}"


def made(ws: Workspace, name: str, definition: dict[str, Any] = HTTPS) -> None:
    """Connection ``name`` created and READY, from outside the code under test."""
    with AspAdminHook(SLOW_CONN) as hook:
        hook.get_conn().create_connection(ws.workspace_name, {"name": name, **definition})
    ws.finish_admin_transitions()


@pytest.fixture
def finish_on_looks(slow_ws: Workspace) -> Iterator[Callable[[str, int], Any]]:
    """``finish_on_looks(key, n)``: a context that finishes the emulator's transitions
    once ``key`` (``"GET connection"``) was received ``n`` more times."""

    def on(key: str, n: int = 2) -> Any:
        return after_requests(slow_ws, key, n, slow_ws.finish_admin_transitions)

    yield on
    slow_ws.clear_admin_faults()


# -- secrets ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "where",
    [
        {"headers": {"Authorization": "Bearer {{ conn.adversity_secrets.password }}"}},
        {"url": "https://hooks.example/in?token={{ conn.adversity_secrets.password }}"},
        {"url": f"https://hooks.example/in?token={SECRET}"},  # a secret read for it, pasted
    ],
    ids=["templated-header", "templated-url", "pasted"],
)
def test_a_secret_in_the_definition_however_it_got_there_is_refused(
    admin_ws: Workspace, add_connection, run_dag, capfd, where: dict[str, Any]
) -> None:
    secrets = add_connection(
        "adversity_secrets",
        json.dumps({"conn_type": "generic", "login": "svc", "password": SECRET}),
    )
    ws, name = admin_ws.workspace_name, unique("templated")
    definition = {**HTTPS, **where}
    call = (
        f'AspDeployConnectionOperator(task_id="t", workspace_name={ws!r}, '
        f"connection_name={name!r}, definition={definition!r}, secrets_conn_id={secrets!r}, "
        "secret_fields={'headers.X-Key': 'password'})"
    )
    with requests(admin_ws) as seen:
        result = run_dag(dag(call, retries=2))
    assert result.states == {"t": "failed"}  # no retry: bad input
    assert seen.total == 0  # refused before anything was sent
    out = capfd.readouterr()
    path = next(iter(where)) + (".Authorization" if "headers" in where else "")
    assert f"carries a secret at {path} (a value Airflow masks)" in out.out
    everything = json.dumps([list(result.xcoms.values()), result.rendered]) + out.out + out.err
    assert SECRET not in everything
    assert name not in admin_ws._admin_server().project.workspaces[ws].connections


def test_debug_logs_carry_no_secret(
    admin_ws: Workspace, admin_secret: str, add_connection, run_dag, capfd
) -> None:
    secrets = add_connection(
        "adversity_kafka",
        json.dumps({"conn_type": "generic", "login": "solar", "password": SECRET}),
    )
    definition = {
        "type": "Kafka",
        "bootstrapServers": "broker-1:9092",
        "authentication": {"mechanism": "SCRAM-256"},
    }
    call = (
        f'AspDeployConnectionOperator(task_id="t", workspace_name={admin_ws.workspace_name!r}, '
        f"connection_name={unique('debug')!r}, definition={definition!r}, "
        f"secrets_conn_id={secrets!r})"
    )
    from airflow.sdk.log import configure_logging

    configure_logging(log_level="DEBUG")
    try:
        result = run_dag(dag(call))
    finally:
        configure_logging()
    assert result.states == {"t": "success"}
    out = capfd.readouterr()
    # dag.test()'s in-process supervisor logs each message of the task at DEBUG, the
    # values Airflow itself masks included ("Sending request msg=MaskSecret(value=...)");
    # a real worker sends them over its socket unlogged. Every other line is checked.
    lines = [
        line
        for line in (out.out + out.err).splitlines()
        if "Sending request" not in line or "msg=MaskSecret(" not in line
    ]
    text = "\n".join(lines)
    assert "send_request_body" in text  # httpcore's DEBUG lines were written
    assert SECRET not in text
    assert admin_secret not in text


# -- retries after an effect, lost answers ----------------------------------------------------


def test_a_retry_after_the_create_went_through_writes_nothing(
    slow_ws: Workspace, finish_on_looks
) -> None:
    name = unique("retried")
    first = AspDeployConnectionOperator(
        connection_name=name, definition=HTTPS, **args(slow_ws, timeout=0.3)
    )
    with pytest.raises(AdminWaitTimeoutError, match="READY: not within"):
        first.execute({})  # created, then PENDING past the try's timeout
    again = AspDeployConnectionOperator(connection_name=name, definition=HTTPS, **args(slow_ws))
    with requests(slow_ws) as seen, finish_on_looks("GET connection", 2):
        result, _ = run_deferring(again)
    assert (result["action"], result["state"]) == ("none", "READY")
    assert seen.writes == {}


def test_a_retried_delete_after_its_202_sends_no_second_delete(
    slow_ws: Workspace, finish_on_looks
) -> None:
    name = unique("doomed")
    made(slow_ws, name)
    first = AspDeleteConnectionOperator(connection_name=name, **args(slow_ws, timeout=0.3))
    with pytest.raises(AdminWaitTimeoutError, match="gone: not within"):
        first.execute({})  # 202, then DELETING past the try's timeout
    again = AspDeleteConnectionOperator(connection_name=name, **args(slow_ws))
    with requests(slow_ws) as seen, finish_on_looks("GET connection", 2):
        result, _ = run_deferring(again)
    assert result["deleted"] is True
    assert seen.writes == {}


@pytest.mark.parametrize("mode", MODES)
def test_a_connection_being_deleted_is_created_again_once_gone(
    slow_ws: Workspace, finish_on_looks, mode: str
) -> None:
    name = unique(f"reborn-{mode}")
    made(slow_ws, name)
    with AspAdminHook(SLOW_CONN) as hook:
        hook.get_conn().delete_connection(slow_ws.workspace_name, name)  # an earlier teardown
    task = AspDeployConnectionOperator(
        connection_name=name, definition=HTTPS, **args(slow_ws, mode)
    )
    with (
        requests(slow_ws) as seen,
        finish_on_looks("GET connection", 2),
        finish_on_looks("POST connections", 1),
    ):
        result, deferred = run_deferring(task)
    assert (result["action"], result["state"]) == ("create", "READY")
    assert seen.writes == {"POST connections": 1}  # no PATCH, no second DELETE
    assert (len(deferred) > 0) is (mode == "deferrable")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("lost", ["DELETE", "POST"])
def test_a_replace_whose_answers_are_lost_deletes_once_and_creates_once(
    slow_ws: Workspace, finish_on_looks, mode: str, lost: str
) -> None:
    name = unique(f"swap-{lost.lower()}-{mode}")
    made(slow_ws, name)
    path = connection_path(slow_ws, name) if lost == "DELETE" else "*/connections"
    slow_ws.inject_admin_fault(lost, path, status=503, after_effect=True)
    task = AspDeployConnectionOperator(
        connection_name=name, definition={"type": "Sample"}, allow_replace=True,
        **args(slow_ws, mode),
    )  # fmt: skip
    with (
        requests(slow_ws) as seen,
        finish_on_looks("GET connection", 2),
        finish_on_looks("POST connections", 1),
    ):
        result, deferred = run_deferring(task)
    assert (result["action"], result["changed"], result["state"]) == ("replace", ["type"], "READY")
    assert seen.writes == {"DELETE connection": 1, "POST connections": 1}
    assert (len(deferred) > 0) is (mode == "deferrable")


def test_a_workspace_without_its_sample_is_kept_with_a_warning(slow_ws: Workspace, capfd) -> None:
    name = unique("plain")
    workspace = {**args(slow_ws), "workspace_name": name}
    AspCreateWorkspaceOperator(**workspace).execute({})
    again = AspCreateWorkspaceOperator(**workspace, sample_connections=True)
    with requests(slow_ws) as seen:
        result = again.execute({})
    assert (result["action"], seen.writes) == ("none", {})
    out = capfd.readouterr().out
    assert "has no sample_stream_solar (made without sample connections)" in out
    AspDeleteWorkspaceOperator(**{**workspace, "wait_for_completion": False}).execute({})
    slow_ws.finish_admin_transitions()


# -- bounds -----------------------------------------------------------------------------------

TIMEOUT = 2.0
#: The try's timeout, one request's timeout (capped by it), and room for a slow machine.
BOUND = 2 * TIMEOUT + 2.0


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "*/connections/*"), ("POST", "*/connections")],
    ids=["look", "create"],
)
def test_a_silent_admin_api_costs_the_try_its_timeout(
    slow_ws: Workspace, finish_on_looks, method: str, path: str
) -> None:
    slow_ws.inject_admin_fault(method, path, silent=True, times=-1)
    task = AspDeployConnectionOperator(
        connection_name=unique("silent"), definition=HTTPS, **args(slow_ws, timeout=TIMEOUT)
    )
    started = time.monotonic()
    with pytest.raises(AdminTimeoutError, match=f"{method} .*: no answer") as raised:
        task.execute({})
    assert time.monotonic() - started < BOUND
    assert not isinstance(raised.value, AirflowFailException)  # a retry may do better


def test_a_silent_admin_api_in_the_triggerer_ends_at_the_deadline(
    slow_ws: Workspace, finish_on_looks
) -> None:
    task = AspDeployConnectionOperator(
        connection_name=unique("silent-deferred"),
        definition=HTTPS,
        **args(slow_ws, "deferrable", timeout=TIMEOUT),
    )
    started = time.monotonic()
    with pytest.raises(TaskDeferred) as deferred:
        task.execute({})
    slow_ws.inject_admin_fault("GET", "*/connections/*", silent=True, times=-1)
    event = asyncio.run(only_event(rebuilt(deferred.value.trigger)))
    assert time.monotonic() - started < BOUND
    assert event.payload["status"] == "timeout"
    assert "last look: GET" in event.payload["message"]
    with pytest.raises(AdminWaitTimeoutError, match="READY: not within"):
        task.resume_execution(deferred.value.method_name, {"event": event.payload}, {})


# -- the triggerer's errors are the worker's ----------------------------------------------------


def test_a_403_in_the_triggerer_is_raised_with_the_workers_words(slow_ws: Workspace) -> None:
    name = unique("forbidden")
    made(slow_ws, name)
    path = connection_path(slow_ws, name)
    slow_ws.inject_admin_fault("GET", path, status=403, times=1)
    worker = AspDeleteConnectionOperator(connection_name=name, **args(slow_ws))
    with pytest.raises(AdminForbiddenError) as in_worker:
        worker.execute({})
    assert isinstance(in_worker.value, AirflowFailException)  # no retries
    task = AspDeployConnectionOperator(
        connection_name=unique("pending"), definition=HTTPS, **args(slow_ws, "deferrable")
    )
    with pytest.raises(TaskDeferred) as deferred:
        task.execute({})
    trigger = deferred.value.trigger
    slow_ws.inject_admin_fault(
        "GET", connection_path(slow_ws, trigger.wait.connection), status=403, times=1
    )
    event = asyncio.run(only_event(rebuilt(trigger)))
    with pytest.raises(AdminForbiddenError) as in_triggerer:
        task.resume_execution(deferred.value.method_name, {"event": event.payload}, {})
    assert isinstance(in_triggerer.value, AirflowFailException)
    words = str(in_triggerer.value).replace(trigger.wait.connection, name)
    assert words == str(in_worker.value)
    assert "Project Owner or Project Stream Processing Owner" in words
    slow_ws.finish_admin_transitions()


def test_a_read_only_role_fails_a_deploy_at_once_naming_the_roles(
    admin_ws: Workspace, admin_conn, run, capfd
) -> None:
    conn_id = admin_conn("asp_admin_reader", role="GROUP_READ_ONLY")
    ws, name = admin_ws.workspace_name, unique("refused")
    with requests(admin_ws) as seen:
        result = run(
            f"AspDeployConnectionOperator(workspace_name={ws!r}, connection_name={name!r}, "
            f"definition={HTTPS!r}, asp_admin_conn_id={conn_id!r})",
            retries=3,
        )
    assert result.states == {"t": "failed"}
    assert seen.seen["POST connections"] == 1  # sent once: no retry of the task or the call
    out = capfd.readouterr().out
    assert f"POST /api/atlas/v2/groups/{admin_ws.project_id}/streams/{ws}/connections" in out
    assert "answered 403" in out
    assert "needs the Project Owner or Project Stream Processing Owner role" in out


@pytest.fixture
def run(run_dag: Callable[..., Any]) -> Callable[..., Any]:
    def go(call: str, **kwargs: Any) -> Any:
        return run_dag(dag(call.replace("(", '(task_id="t", ', 1), **kwargs))

    return go


# -- the same requests and words as Dagster's assets -------------------------------------------

KAFKA = {
    "type": "Kafka",
    "bootstrapServers": "broker-1:9092",
    "authentication": {"mechanism": "SCRAM-256", "username": "solar"},
}
#: The requests of each deploy, the same in Dagster (the token left out).
REQUESTS = {
    "create": {"GET connection": 1, "POST connections": 1},
    "again, secrets sent": {"GET connection": 1, "PATCH connection": 1},
    "replace": {"GET connection": 3, "DELETE connection": 1, "POST connections": 1},
}


def test_the_requests_are_the_dagster_assets(admin_ws: Workspace, add_connection, run) -> None:
    secrets = add_connection(
        "adversity_parity",
        json.dumps({"conn_type": "generic", "login": "solar", "password": SECRET}),
    )
    ws, name = admin_ws.workspace_name, unique("parity")
    base = f"AspDeployConnectionOperator(workspace_name={ws!r}, connection_name={name!r}, "
    kafka = (
        base + f"definition={KAFKA!r}, secrets_conn_id={secrets!r}, "
        "secret_fields={'authentication.password': 'password'})"
    )
    for step, call in [
        ("create", kafka),
        ("again, secrets sent", kafka),
        ("replace", base + f"definition={HTTPS!r}, allow_replace=True)"),
    ]:
        with requests(admin_ws) as seen:
            assert run(call).states == {"t": "success"}, step
        assert {k: n for k, n in seen.seen.items() if "token" not in k} == REQUESTS[step], step


def test_the_words_are_the_dagster_assets(admin_ws: Workspace, run, capfd) -> None:
    ws, name = admin_ws.workspace_name, unique("worded")
    base = f"AspDeployConnectionOperator(workspace_name={ws!r}, connection_name={name!r}, "
    assert run(base + f"definition={HTTPS!r})").states == {"t": "success"}
    capfd.readouterr()
    assert run(base + "definition={'type': 'Sample'})").states == {"t": "failed"}
    assert (
        f"Connection {name!r} of workspace {ws!r}: type cannot change in place; deleting and "
        "creating it stops the processors that use it, so it is not done unless "
        "allow_replace=True."
    ) in capfd.readouterr().out


def test_importing_the_stack_dag_sends_nothing(admin_ws: Workspace, add_connection) -> None:
    wire = admin_ws.airflow_connection()
    del wire["host"], wire["port"]
    wire["extra"].update(admin_conn_id="asp_admin_default", workspace_name="asp-stack")
    add_connection("asp_stack", json.dumps(wire))
    path = f"{example_dags.__path__[0]}/asp_stack.py"
    spec = importlib.util.spec_from_file_location("asp_stack_import", path)
    assert spec is not None
    assert spec.loader is not None
    with requests(admin_ws) as seen:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    assert seen.seen == {}  # not even a token
