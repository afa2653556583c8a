"""AspHook against the emulator: connection forms, clients, test_connection, secrets."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
from pymongo.errors import InvalidOperation

from airflow_provider_asp.hooks.asp import AspHook
from asp_core.errors import AspConnectionConfigError
from asp_core.settings import DEFAULT_SOCKET_TIMEOUT_MS
from asp_core.stream_processing import (
    AsyncStreamProcessingClient,
    StreamProcessingClient,
)
from tests.support.airflow import PASSWORD, VIEWER_PASSWORD, connection_json
from tests.support.processes import free_port


def test_json_connection_gives_a_working_cached_client(workspace):
    with AspHook() as hook:
        client = hook.get_conn()
        assert isinstance(client, StreamProcessingClient)
        assert hook.get_conn() is client
        assert isinstance(hook.get_processors().list(), list)
    with pytest.raises(InvalidOperation):
        client.stream_processors().list()  # closed by the context manager


def test_uri_connection_with_string_extras(workspace, add_connection):
    uri = workspace.airflow_connection_uri() + "&connect_timeout_ms=1500&app_name=etl"
    with AspHook(add_connection("asp_uri", uri)) as hook:
        settings = hook.settings
        assert (settings.host, settings.port, settings.username) == (
            workspace.host,
            workspace.port,
            "admin",
        )
        assert settings.connect_timeout_ms == 1500
        assert settings.app_name == "etl"
        assert settings.socket_timeout_ms == DEFAULT_SOCKET_TIMEOUT_MS
        assert isinstance(hook.get_processors().list(), list)


def test_settings_repr_hides_the_password(workspace):
    settings = AspHook().settings
    assert settings.password == PASSWORD
    assert PASSWORD not in repr(settings)
    assert settings.scrub(f"x {PASSWORD} y") == "x *** y"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"host": ""}, "it has no host"),
        ({"host": "mongodb://h"}, "hostname only"),
        ({"extra": {"connect_timeout_ms": "soon"}}, "'connect_timeout_ms' must be a positive"),
        ({"extra": {"socket_timeout_ms": 0}}, "'socket_timeout_ms' must be a positive"),
        ({"extra": {"tls_allow_invalid_certificates": "maybe"}}, "must be true or false"),
        ({"extra": {"auth_mechanism": "MONGODB-X509"}}, "needs 'tls_certificate_key_file'"),
    ],
)
def test_invalid_connection_fails_clearly(workspace, add_connection, changes, message):
    conn_id = add_connection("asp_bad", connection_json(workspace, **changes))
    with pytest.raises(AspConnectionConfigError, match=message):
        AspHook(conn_id).get_conn()
    ok, reason = AspHook(conn_id).test_connection()
    assert not ok
    assert message.split("'")[0] in reason
    assert conn_id not in reason  # the UI tests a temporary id the user never sees


def test_unknown_extras_are_named_in_a_warning(workspace, add_connection, caplog):
    conn_id = add_connection("asp_typo", connection_json(workspace, extra={"tlsCAFile": "/x"}))
    with caplog.at_level(logging.WARNING):
        AspHook(conn_id).settings  # noqa: B018
    assert "unknown field(s) tlsCAFile" in caplog.text


def test_legacy_extra_prefix_is_understood(workspace, add_connection):
    conn = json.loads(connection_json(workspace))
    conn["extra"] = {"extra__asp__tls_ca_file": workspace.ca_file}
    with AspHook(add_connection("asp_legacy", json.dumps(conn))) as hook:
        assert hook.settings.tls_ca_file == workspace.ca_file
        assert isinstance(hook.get_processors().list(), list)


def test_test_connection_counts_processors(workspace, client, name):
    client.stream_processors().create(name, [{"$source": {"documents": [{"a": 1}]}}])
    ok, message = AspHook().test_connection()
    total = len(workspace.processors())
    assert ok, message
    assert f"{total} stream processor(s)" in message
    assert "CREATED" in message
    assert workspace.host in message


WRONG_PASSWORD = "Not-The-Password-123"
FAILURES = {
    "wrong password": (
        {"password": WRONG_PASSWORD},
        None,
        "Authentication failed for user 'admin'",
        "check the login, the password",
    ),
    "user without atlasAdmin": (
        {"login": "viewer", "password": VIEWER_PASSWORD},
        None,
        "Connected to",
        "not allowed",
    ),
    "untrusted certificate": (
        {"extra": {"server_selection_timeout_ms": 1000, "tls_ca_file": None}},
        None,
        "TLS with",
        "CERTIFICATE_VERIFY_FAILED",
    ),
    "closed port": (
        {"port": free_port(), "extra": {"server_selection_timeout_ms": 1000}},
        None,
        "Cannot reach the workspace",
        "server selection 1000 ms",
    ),
    "silent workspace": (
        {"extra": {"socket_timeout_ms": 300}},
        "listStreamProcessors",
        "The workspace at",
        "did not answer in time",
    ),
}


@pytest.mark.parametrize(
    ("changes", "slow_command", "beginning", "detail"), FAILURES.values(), ids=FAILURES
)
def test_test_connection_tells_failures_apart(
    workspace, add_connection, changes, slow_command, beginning, detail
):
    conn_id = add_connection("asp_failing", connection_json(workspace, **changes))
    if slow_command:
        workspace.inject_fault(slow_command, delay=1.5)
    started = time.monotonic()
    try:
        ok, message = AspHook(conn_id).test_connection()
    finally:
        workspace.clear_faults()
    assert not ok
    assert message.startswith(beginning)
    assert detail in message
    assert time.monotonic() - started < 1 + 1  # within the connection's timeouts
    for secret in (PASSWORD, WRONG_PASSWORD, VIEWER_PASSWORD):
        assert secret not in message


def test_insecure_tls_warns_loudly_and_connects_without_the_ca(workspace, add_connection, capfd):
    extra = {"tls_allow_invalid_certificates": "true", "tls_ca_file": None}
    with AspHook(add_connection("asp_insecure", connection_json(workspace, extra=extra))) as hook:
        assert isinstance(hook.get_processors().list(), list)
    logged = capfd.readouterr().out
    assert "INSECURE: connection 'asp_insecure'" in logged


def test_core_connection_test_finds_the_hook_by_connection_type(workspace, add_connection):
    """What the API server's Test button does: the connection exported as an env var,
    the hook found through the provider's connection type."""
    from airflow.models.connection import Connection

    uri = workspace.airflow_connection_uri()
    conn = Connection(conn_id=add_connection("asp_core", uri), uri=uri)
    ok, message = conn.test_connection()
    assert ok, message
    assert "stream processor(s)" in message


async def test_async_client_from_aget_connection(workspace):
    async with AspHook() as hook:
        client = await hook.aget_conn()
        assert isinstance(client, AsyncStreamProcessingClient)
        assert await hook.aget_conn() is client
        assert isinstance(await client.stream_processors().list(), list)
    assert hook._async_client is None


def test_missing_ca_file_is_a_settings_error(workspace, add_connection):
    conn_id = add_connection(
        "asp_noca", connection_json(workspace, extra={"tls_ca_file": "/nonexistent/ca.pem"})
    )
    ok, message = AspHook(conn_id).test_connection()
    assert not ok
    assert "Invalid connection settings" in message
    assert "/nonexistent/ca.pem" in message


def client_kwargs_of(conn: dict[str, Any]) -> dict[str, Any]:
    from airflow.sdk import Connection

    from airflow_provider_asp.hooks.connection_form import settings_from_connection

    extra = conn.pop("extra", {})
    settings = settings_from_connection(Connection(conn_id="c", conn_type="asp", **conn), extra)
    return settings.client_kwargs()


def test_client_kwargs_for_x509():
    kwargs = client_kwargs_of(
        {
            "host": "ws.example.net",
            "extra": {"auth_mechanism": "MONGODB-X509", "tls_certificate_key_file": "/k.pem"},
        }
    )
    assert kwargs == {
        "host": "ws.example.net",
        "port": 27017,
        "tls": True,
        "tlsCertificateKeyFile": "/k.pem",
        "authMechanism": "MONGODB-X509",
        "authSource": "$external",
        "socketTimeoutMS": DEFAULT_SOCKET_TIMEOUT_MS,
    }
