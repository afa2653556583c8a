"""AspHook with MONGODB-X509 against the emulator: a client certificate instead of a password.

The connection carries the extras ``tls_certificate_key_file`` and ``auth_mechanism:
MONGODB-X509``, no login and no password; the workspace knows the certificate's subject as
a user in ``$external``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from airflow_provider_asp.hooks.asp import AspHook
from asp_emulator import Workspace

ETL = "CN=etl,OU=pipelines,O=acme"
VIEWER = "CN=viewer,OU=pipelines,O=acme"
STRANGER = "CN=stranger,OU=pipelines,O=acme"


@pytest.fixture(scope="module")
def x509_workspace() -> Iterator[Workspace]:
    with Workspace(x509_users={ETL: ["atlasAdmin"], VIEWER: ["read"]}) as ws:
        yield ws


def x509_connection(ws: Workspace, subject: str, **extra: object) -> str:
    conn = ws.airflow_connection(client_certificate=ws.client_certificate(subject))
    conn["extra"].update(extra)
    return json.dumps(conn)


def test_the_hook_lists_processors_with_a_client_certificate(x509_workspace, add_connection):
    with AspHook(add_connection("asp_x509", x509_connection(x509_workspace, ETL))) as hook:
        assert hook.settings.username is None
        assert hook.settings.password is None
        hook.get_processors().create("made-by-x509", [{"$source": {"documents": [{"a": 1}]}}])
        names = [p.name for p in hook.get_processors().list()]
    assert "made-by-x509" in names
    assert x509_workspace.processor("made-by-x509")["modifiedBy"] == ETL


async def test_the_async_client_authenticates_with_the_certificate(x509_workspace, add_connection):
    conn_id = add_connection("asp_x509_async", x509_connection(x509_workspace, ETL))
    async with AspHook(conn_id) as hook:
        client = await hook.aget_conn()
        assert isinstance(await client.stream_processors().list(), list)


def test_test_connection_succeeds_with_a_declared_subject(x509_workspace, add_connection):
    ok, message = AspHook(
        add_connection("asp_x509_ok", x509_connection(x509_workspace, ETL))
    ).test_connection()
    assert ok, message
    assert "stream processor(s)" in message


def test_test_connection_tells_an_unknown_subject_apart(x509_workspace, add_connection):
    conn_id = add_connection("asp_x509_stranger", x509_connection(x509_workspace, STRANGER))
    ok, message = AspHook(conn_id).test_connection()
    assert not ok
    assert message.startswith("Authentication failed")


def test_an_unknown_subject_message_names_the_certificate(x509_workspace, add_connection):
    conn_id = add_connection("asp_x509_message", x509_connection(x509_workspace, STRANGER))
    ok, message = AspHook(conn_id).test_connection()
    assert not ok
    assert "user None" not in message
    assert "'admin'" not in message
    assert "client certificate" in message
    assert "'$external'" in message


def test_test_connection_tells_a_missing_role_apart(x509_workspace, add_connection):
    conn_id = add_connection("asp_x509_viewer", x509_connection(x509_workspace, VIEWER))
    ok, message = AspHook(conn_id).test_connection()
    assert not ok
    assert message.startswith("Connected to")
    assert "not allowed" in message


def test_a_certificate_from_another_workspace_fails_tls(x509_workspace, add_connection):
    with Workspace(x509_users=[ETL]) as other:
        foreign = other.client_certificate(ETL)
        conn = x509_workspace.airflow_connection(client_certificate=foreign)
        conn["extra"]["server_selection_timeout_ms"] = 1000
        ok, message = AspHook(
            add_connection("asp_x509_foreign", json.dumps(conn))
        ).test_connection()
    assert not ok
    assert not message.startswith("Connected to")
