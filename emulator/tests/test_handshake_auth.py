"""Handshake, TLS and authentication, with real pymongo over TLS."""

from __future__ import annotations

import logging
import struct
import subprocess
import sys
import warnings
from typing import Any

import bson
import pytest
from asp_emulator import NonLoopbackWarning, Workspace
from asp_emulator.commands import MAX_WIRE_VERSION
from asp_emulator.wire import OP_QUERY, OP_REPLY, build_op_msg
from pymongo import AsyncMongoClient, MongoClient
from pymongo.errors import OperationFailure, ServerSelectionTimeoutError
from rawwire import read_message, tls_socket


def test_pymongo_sees_a_writable_standalone(workspace: Workspace, connect: Any) -> None:
    client = connect(workspace)
    hello = client.admin.command("hello")
    assert hello["isWritablePrimary"] is True
    assert hello["helloOk"] is True
    assert hello["maxWireVersion"] == MAX_WIRE_VERSION
    for absent in ("setName", "serviceId", "msg", "topologyVersion"):
        assert absent not in hello
    assert client.topology_description.topology_type_name == "Single"
    assert client.address == (workspace.host, workspace.port)


def test_ping_and_build_info(admin: Any) -> None:
    assert admin.command("ping")["ok"] == 1.0
    assert admin.command("buildInfo")["version"]


def test_unknown_command_is_command_not_found(admin: Any) -> None:
    with pytest.raises(OperationFailure) as info:
        admin.command("frobnicate")
    assert info.value.code == 59
    assert "frobnicate" in str(info.value)


def test_legacy_op_query_is_master_handshake(workspace: Workspace) -> None:
    """pymongo before 4.18 opens with isMaster over OP_QUERY on admin.$cmd."""
    query = bson.encode({"isMaster": 1, "helloOk": True})
    body = struct.pack("<i", 0) + b"admin.$cmd\x00" + struct.pack("<ii", 0, -1) + query
    message = struct.pack("<iiii", 16 + len(body), 7, 0, OP_QUERY) + body
    with tls_socket(workspace) as sock:
        sock.sendall(message)
        response_to, op_code, rest = read_message(sock)
    assert (response_to, op_code) == (7, OP_REPLY)
    reply = bson.decode(rest[20:])
    assert reply["ismaster"] is True
    assert reply["helloOk"] is True
    assert reply["ok"] == 1.0


def test_client_without_the_ca_is_refused(workspace: Workspace) -> None:
    uri = f"mongodb://admin:admin-password@{workspace.host}:{workspace.port}/?tls=true"
    with (
        MongoClient[dict[str, Any]](uri, serverSelectionTimeoutMS=1500) as client,
        pytest.raises(ServerSelectionTimeoutError) as info,
    ):
        client.admin.command("ping")
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)


def test_plain_tcp_client_is_refused(workspace: Workspace) -> None:
    uri = f"mongodb://{workspace.host}:{workspace.port}/"
    with (
        MongoClient[dict[str, Any]](uri, serverSelectionTimeoutMS=1500) as client,
        pytest.raises(ServerSelectionTimeoutError),
    ):
        client.admin.command("ping")


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-1"])
def test_scram_mechanisms_authenticate(workspace: Workspace, connect: Any, mechanism: str) -> None:
    client = connect(workspace, authMechanism=mechanism)
    status = client.admin.command("connectionStatus")
    assert status["authInfo"]["authenticatedUsers"] == [{"user": "admin", "db": "admin"}]
    assert client.admin.command({"listStreamProcessors": 1})["ok"] == 1.0


def test_speculative_authentication_saves_the_sasl_start(
    workspace: Workspace, connect: Any
) -> None:
    before = workspace.command_counts()
    connect(workspace).admin.command("ping")
    after = workspace.command_counts()
    # the handshake carried saslStart; only saslContinue went on its own
    assert after.get("saslStart", 0) == before.get("saslStart", 0)
    assert after["saslContinue"] > before.get("saslContinue", 0)


def test_wrong_password_is_authentication_failed(workspace: Workspace, connect: Any) -> None:
    client = connect(workspace, workspace.uri_for("admin", "wrong-password"))
    with pytest.raises(OperationFailure) as info:
        client.admin.command("ping")
    assert info.value.code == 18
    assert "wrong-password" not in str(info.value.details)


def test_unknown_user_is_authentication_failed(workspace: Workspace, connect: Any) -> None:
    client = connect(workspace, workspace.uri_for("nobody", "whatever"))
    with pytest.raises(OperationFailure) as info:
        client.admin.command("ping")
    assert info.value.code == 18


def test_asp_command_without_authentication_is_unauthorized(
    workspace: Workspace, connect: Any
) -> None:
    uri = f"mongodb://{workspace.host}:{workspace.port}/?tls=true&tlsCAFile={workspace.ca_file}"
    client = connect(workspace, uri)
    assert client.admin.command("ping")["ok"] == 1.0  # ping needs no authentication
    with pytest.raises(OperationFailure) as info:
        client.admin.command({"listStreamProcessors": 1})
    assert info.value.code == 13


def test_user_without_atlas_admin_is_unauthorized(workspace: Workspace, connect: Any) -> None:
    client = connect(workspace, workspace.uri_for("reader"))
    assert client.admin.command("ping")["ok"] == 1.0
    with pytest.raises(OperationFailure) as info:
        client.admin.command({"createStreamProcessor": "x", "pipeline": []})
    assert info.value.code == 13
    assert "atlasAdmin" in str(info.value)
    assert "x" not in workspace.processors()


def test_asp_commands_run_on_admin_only(admin: Any) -> None:
    with pytest.raises(OperationFailure) as info:
        admin.client.other.command({"listStreamProcessors": 1})
    assert info.value.code == 73


async def test_async_client_authenticates_and_runs_commands(workspace: Workspace) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(workspace.uri)
    try:
        reply = await client.admin.command({"listWorkspaceDefaults": 1})
        assert reply["defaultTierSize"] == "SP10"
    finally:
        await client.close()


def test_supplied_certificate_files_are_used(workspace: Workspace, connect: Any) -> None:
    """A workspace can serve a certificate the user supplies (here: another workspace's)."""
    assert workspace.tls is not None
    with Workspace(
        users={"u": "p-secret"},
        tls_cert_key_file=workspace.tls.cert_key_file,
        tls_ca_file=workspace.tls.ca_file,
    ) as other:
        assert other.ca_file == workspace.ca_file
        assert connect(other).admin.command("ping")["ok"] == 1.0


def test_hands_out_airflow_connections(workspace: Workspace) -> None:
    conn = workspace.airflow_connection()
    assert conn == {
        "conn_type": "asp",
        "host": "127.0.0.1",
        "port": workspace.port,
        "login": "admin",
        "password": "admin-password",
        "extra": {"tls_ca_file": workspace.ca_file},
    }
    uri = workspace.airflow_connection_uri("reader")
    assert uri.startswith(f"asp://reader:reader-password@127.0.0.1:{workspace.port}/?tls_ca_file=")


def command(sock: Any, body: dict[str, Any], request_id: int = 1) -> dict[str, Any]:
    sock.sendall(build_op_msg({**body, "$db": body.get("$db", "admin")}, request_id))
    return bson.decode(read_message(sock)[2][5:])


def server_first(workspace: Workspace, user: str, database: str = "admin") -> dict[str, str]:
    """The SCRAM-SHA-256 server-first-message's attributes for ``user``."""
    with tls_socket(workspace) as sock:
        reply = command(
            sock,
            {
                "saslStart": 1,
                "mechanism": "SCRAM-SHA-256",
                "payload": f"n,,n={user},r=fyko+d2lbbFgONRv9qkxdawL".encode(),
                "$db": database,
            },
        )
    assert reply["ok"] == 1.0, reply
    return dict(item.split("=", 1) for item in bytes(reply["payload"]).decode().split(","))


def test_no_user_enumeration_through_sasl_supported_mechs(workspace: Workspace) -> None:
    with tls_socket(workspace) as sock:
        known = command(sock, {"hello": 1, "saslSupportedMechs": "admin.admin"})
        unknown = command(sock, {"hello": 1, "saslSupportedMechs": "admin.nobody"}, 2)
    assert known["saslSupportedMechs"] == unknown["saslSupportedMechs"]


def test_no_user_enumeration_through_scram_salts(workspace: Workspace) -> None:
    import base64

    real = server_first(workspace, "admin")
    ghost, ghost_again = server_first(workspace, "nobody"), server_first(workspace, "nobody")
    assert ghost["s"] == ghost_again["s"]  # as stable as a real user's salt
    assert server_first(workspace, "admin")["s"] == real["s"]
    assert len(base64.b64decode(ghost["s"])) == len(base64.b64decode(real["s"]))
    assert ghost["i"] == real["i"]


def test_the_same_error_for_an_unknown_user_and_a_wrong_password(
    workspace: Workspace, connect: Any
) -> None:
    errors = []
    for user, password in (("admin", "wrong-password"), ("nobody", "admin-password")):
        with pytest.raises(OperationFailure) as info:
            connect(workspace, workspace.uri_for(user, password)).admin.command("ping")
        errors.append((info.value.code, str(info.value.details.get("errmsg"))))  # type: ignore[union-attr]
    assert errors[0] == errors[1] == (18, "Authentication failed.")


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-1"])
def test_scram_users_authenticate_against_admin_only(
    workspace: Workspace, connect: Any, mechanism: str
) -> None:
    """Atlas database users live in admin: any other authSource fails (it used to work)."""
    uri = workspace.uri.replace("authSource=admin", "authSource=records")
    with pytest.raises(OperationFailure) as info:
        connect(workspace, uri, authMechanism=mechanism).admin.command("ping")
    assert info.value.code == 18


def test_a_non_loopback_address_warns_and_logs_before_anything_listens(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The warning comes when the workspace is made: it is never started, so nothing
    listens beyond 127.0.0.1 during the test."""
    expected = "binding '192.0.2.1', which is not a loopback address"
    with (
        caplog.at_level(logging.WARNING, logger="asp_emulator.workspace"),
        pytest.warns(NonLoopbackWarning, match=expected) as warned,
    ):
        ws = Workspace(host="192.0.2.1")
    assert not ws.running
    assert issubclass(NonLoopbackWarning, UserWarning)
    assert warned[0].filename == __file__  # it points at the caller's line
    assert [r.getMessage() for r in caplog.records if r.name == "asp_emulator.workspace"] == [
        str(warned[0].message)
    ]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_a_loopback_address_does_not_warn(host: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Workspace(host=host)


def test_the_command_line_says_it_once_on_stderr() -> None:
    """192.0.2.1 (TEST-NET-1) is no address of this machine: the bind fails after the
    warning, so nothing listens beyond 127.0.0.1 during the test."""
    done = subprocess.run(
        [sys.executable, "-m", "asp_emulator", "serve", "--host", "192.0.2.1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "assign requested address" in done.stderr
    line = "asp-emulator: WARNING: binding '192.0.2.1', which is not a loopback address"
    assert done.stderr.count(line) == 1
    assert "NonLoopbackWarning" not in done.stderr


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("", False),
        ("192.0.2.1", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    from asp_emulator.workspace import is_loopback

    assert is_loopback(host) is loopback
