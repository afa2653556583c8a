"""A workspace connection (``asp``) naming an ``asp_admin`` connection and a workspace
instead of a host: the hostname comes from the Admin API when a task runs, never when the
DAG is parsed."""

from __future__ import annotations

import importlib.util
import json
import time

import pytest

from airflow_provider_asp.hooks.asp import AspHook
from asp_core.admin import AdminTimeoutError
from asp_core.admin.hostnames import wire_address
from asp_core.errors import AspConnectionConfigError, AspConnectionError
from asp_emulator import Workspace
from tests.support.admin import requests
from tests.support.airflow import PASSWORD


def named(ws: Workspace, workspace: str | None = None, **changes: object) -> str:
    """An ``asp`` connection naming ``asp_admin_default`` and a workspace, without a host."""
    conn = ws.airflow_connection()
    conn.pop("host")
    conn.pop("port")
    conn["extra"].update(
        admin_conn_id="asp_admin_default", workspace_name=workspace or ws.workspace_name
    )
    conn.update(changes)
    return json.dumps(conn)


def test_the_hostname_comes_from_the_admin_api(admin_ws: Workspace, add_connection) -> None:
    conn_id = add_connection("asp_named", named(admin_ws))
    with requests(admin_ws) as seen, AspHook(conn_id) as hook:
        settings = hook.settings
        assert (settings.host, settings.port) == (admin_ws.host, admin_ws.port)
        assert settings.project_id == admin_ws.project_id  # for the Atlas UI link
        assert settings.password == PASSWORD
        assert isinstance(hook.get_processors().list(), list)
    assert seen.seen["GET workspace"] == 1


async def test_triggers_resolve_it_without_blocking(admin_ws: Workspace, add_connection) -> None:
    conn_id = add_connection("asp_named_async", named(admin_ws))
    settings = await AspHook(conn_id).asettings()
    assert (settings.host, settings.port) == (admin_ws.host, admin_ws.port)


def test_a_missing_workspace_is_named(admin_ws: Workspace, add_connection) -> None:
    conn_id = add_connection("asp_named_missing", named(admin_ws, "nowhere"))
    with pytest.raises(AspConnectionConfigError, match="workspace 'nowhere' does not exist in"):
        AspHook(conn_id).get_conn()
    ok, message = AspHook(conn_id).test_connection()
    assert not ok
    assert "'nowhere' does not exist" in message


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"host": "h.example"}, "set either the hostname or admin_conn_id"),
        ({"extra": {"admin_conn_id": "asp_admin_default"}}, "needs the workspace name"),
    ],
)
def test_half_a_reference_is_refused(admin_ws, add_connection, changes, words) -> None:
    conn = json.loads(named(admin_ws))
    if "extra" in changes:
        conn["extra"] = {"tls_ca_file": admin_ws.ca_file, **changes["extra"]}
    else:
        conn.update(changes)
    conn_id = add_connection("asp_named_half", json.dumps(conn))
    with pytest.raises(AspConnectionConfigError, match=words):
        AspHook(conn_id).get_conn()


def test_parsing_a_dag_sends_nothing(admin_ws: Workspace, add_connection, airflow_home) -> None:
    conn_id = add_connection("asp_named_parse", named(admin_ws))
    path = airflow_home / "dags" / "asp_named_parse.py"
    path.write_text(
        "import pendulum\n"
        "from airflow.sdk import DAG\n"
        "from airflow_provider_asp.operators.asp import AspStartProcessorOperator\n"
        "with DAG('asp_named_parse', schedule=None, start_date=pendulum.datetime(2024, 1, 1)):\n"
        f"    AspStartProcessorOperator(task_id='t', processor_name='p', asp_conn_id={conn_id!r})\n"
    )
    spec = importlib.util.spec_from_file_location("asp_named_parse", path)
    assert spec is not None
    assert spec.loader is not None
    with requests(admin_ws) as seen:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    assert seen.seen == {}


@pytest.mark.parametrize(
    ("hostnames", "address"),
    [
        (["127.0.0.1:4242"], ("127.0.0.1", 4242)),
        (
            ["atlas-stream-0a1b.virginia-usa.a.query.mongodb.net"],
            ("atlas-stream-0a1b.virginia-usa.a.query.mongodb.net", None),
        ),
        (["mongodb://h.example:27017"], ("h.example", 27017)),
    ],
)
def test_wire_address_reads_a_hostname(hostnames, address) -> None:
    assert wire_address({"name": "w", "hostnames": hostnames}) == address


@pytest.mark.parametrize("hostnames", [[], None, [""], ["h.example:port"]])
def test_wire_address_without_a_usable_hostname(hostnames) -> None:
    with pytest.raises(AspConnectionError, match="Workspace 'w' reports"):
        wire_address({"name": "w", "hostnames": hostnames})


def test_lineage_names_datasets_after_the_admin_registry(admin_ws, add_connection) -> None:
    """Named through the Admin API, a Kafka connection is its bootstrap server; through
    the wire (which lists names and types only) it stays in the workspace's namespace."""
    from airflow_provider_asp.hooks.admin import AspAdminHook
    from airflow_provider_asp.operators.asp import AspCreateProcessorOperator
    from asp_core.lineage import workspace_namespace, workspace_of

    kafka = {"name": "lineage_k", "type": "Kafka", "bootstrapServers": "b1.example.com:9092"}
    with AspAdminHook() as admin:
        admin.get_conn().create_connection(admin_ws.workspace_name, kafka)
    pipeline = [
        {"$source": {"connectionName": "lineage_k", "topic": "orders"}},
        {"$emit": {"connectionName": "lineage_k", "topic": "clean"}},
    ]
    wire_conn = add_connection("asp_wire_lineage", json.dumps(admin_ws.airflow_connection()))
    found = {}
    for conn_id in (add_connection("asp_named_lineage", named(admin_ws)), wire_conn):
        task = AspCreateProcessorOperator(
            task_id="t", processor_name="p", asp_conn_id=conn_id, pipeline=pipeline
        )
        lineage = task.processor_lineage()
        assert lineage is not None
        found[conn_id] = lineage.lineage
    named_lineage = found["asp_named_lineage"]
    assert [(d.namespace, d.name) for d in named_lineage.inputs] == [
        ("kafka://b1.example.com:9092", "orders")
    ]
    assert [(d.namespace, d.name) for d in named_lineage.outputs] == [
        ("kafka://b1.example.com:9092", "clean")
    ]
    own = workspace_namespace(workspace_of(admin_ws.host, admin_ws.port))
    assert {d.namespace for d in found[wire_conn].inputs} == {own}


def test_a_silent_admin_api_costs_a_wire_task_two_request_timeouts(
    admin_ws: Workspace, admin_conn, add_connection
) -> None:
    admin = admin_conn("asp_admin_quick", timeout=1)
    conn = json.loads(named(admin_ws))
    conn["extra"]["admin_conn_id"] = admin
    conn_id = add_connection("asp_named_silent", json.dumps(conn))
    admin_ws.inject_admin_fault("GET", "*/streams/*", silent=True, times=-1)
    started = time.monotonic()
    with pytest.raises(AdminTimeoutError, match=r"GET .*: no answer"):
        AspHook(conn_id).get_conn()
    assert time.monotonic() - started < 5  # two attempts of 1 s and a pause; was five


def test_each_task_resolves_the_workspace_anew(admin_ws: Workspace, add_connection) -> None:
    """A workspace deleted and created again answers at a new address: the next task's
    hook finds it (the address is kept per hook, for one task)."""
    from airflow_provider_asp.hooks.admin import AspAdminHook

    with AspAdminHook() as admin:
        client = admin.get_conn()
        client.create_workspace("reborn")
        conn_id = add_connection("asp_named_reborn", named(admin_ws, "reborn"))
        first = AspHook(conn_id).settings.port
        client.delete_workspace("reborn")
        admin_ws.finish_admin_transitions()
        client.create_workspace("reborn")
        with requests(admin_ws) as seen:
            hook = AspHook(conn_id)
            second = (hook.settings.port, hook.settings.port)
        client.delete_workspace("reborn")
    assert second[0] == second[1] != first
    assert seen.seen["GET workspace"] == 1
