"""MONGODB-X509: client certificates signed by the workspace's CA, users in ``$external``."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
import trustme
from asp_emulator import Workspace
from pymongo import AsyncMongoClient, MongoClient
from pymongo.errors import OperationFailure, ServerSelectionTimeoutError

ETL = "CN=etl,OU=pipelines,O=acme"
VIEWER = "CN=viewer,OU=pipelines,O=acme"
STRANGER = "CN=stranger,OU=pipelines,O=acme"


@pytest.fixture(scope="module")
def ws() -> Iterator[Workspace]:
    with Workspace(x509_users={ETL: ["atlasAdmin"], VIEWER: ["read"]}) as workspace:
        yield workspace


def client(ws: Workspace, subject: str, **kwargs: Any) -> MongoClient[dict[str, Any]]:
    return MongoClient(
        ws.x509_uri(ws.client_certificate(subject)), serverSelectionTimeoutMS=5000, **kwargs
    )


def test_a_declared_subject_authenticates_and_runs_commands(ws: Workspace) -> None:
    with client(ws, ETL) as etl:
        status = etl.admin.command("connectionStatus")["authInfo"]
        assert status["authenticatedUsers"] == [{"user": ETL, "db": "$external"}]
        etl.admin.command({"createStreamProcessor": "x509-made", "pipeline": []})
        assert etl.admin.command({"getStreamProcessor": "x509-made"})["result"]["modifiedBy"] == ETL


def test_speculative_authentication_saves_the_authenticate_command(ws: Workspace) -> None:
    before = ws.command_counts().get("authenticate", 0)
    with client(ws, ETL) as etl:
        etl.admin.command({"listStreamProcessors": 1})
    assert ws.command_counts().get("authenticate", 0) == before  # done inside hello


async def test_the_async_client_authenticates_too(ws: Workspace) -> None:
    uri = ws.x509_uri(ws.client_certificate(ETL))
    async_client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    try:
        assert (await async_client.admin.command({"listWorkspaceDefaults": 1}))["ok"] == 1.0
    finally:
        await async_client.close()


def test_roles_apply_as_for_scram(ws: Workspace) -> None:
    with client(ws, VIEWER) as viewer:
        assert viewer.admin.command("ping")["ok"] == 1.0
        with pytest.raises(OperationFailure) as info:
            viewer.admin.command({"listStreamProcessors": 1})
        assert info.value.code == 13
        assert "atlasAdmin" in str(info.value)


def test_an_undeclared_subject_is_refused_like_a_wrong_password(ws: Workspace) -> None:
    with client(ws, STRANGER) as stranger, pytest.raises(OperationFailure) as info:
        stranger.admin.command({"listStreamProcessors": 1})
    assert info.value.code == 18
    assert "Authentication failed." in str(info.value)


def test_a_certificate_of_another_ca_fails_the_tls_handshake(ws: Workspace) -> None:
    other = trustme.CA().issue_cert(common_name="etl", organization_unit_name="pipelines")
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "other.pem")
        other.private_key_and_cert_chain_pem.write_to_path(path)
        with (
            MongoClient[dict[str, Any]](ws.x509_uri(path), serverSelectionTimeoutMS=1500) as c,
            pytest.raises(ServerSelectionTimeoutError),
        ):
            c.admin.command("ping")


def test_x509_needs_a_certificate(ws: Workspace) -> None:
    uri = ws.x509_uri(ws.client_certificate(ETL)).split("&tlsCertificateKeyFile=")[0]
    uri += "&authMechanism=MONGODB-X509&authSource=%24external"
    with (
        MongoClient[dict[str, Any]](uri, serverSelectionTimeoutMS=5000) as c,
        pytest.raises(OperationFailure) as info,
    ):
        c.admin.command({"listStreamProcessors": 1})
    assert info.value.code == 18
    assert "No verified subject" in str(info.value)


def test_a_claimed_user_must_match_the_certificate(ws: Workspace) -> None:
    uri = ws.x509_uri(ws.client_certificate(VIEWER))
    with (
        MongoClient[dict[str, Any]](uri, username=ETL) as c,
        pytest.raises(OperationFailure) as info,
    ):
        c.admin.command({"listStreamProcessors": 1})
    assert info.value.code == 18


def test_scram_users_cannot_use_external_and_x509_users_cannot_use_scram(
    ws: Workspace, connect: Any
) -> None:
    uri = ws.uri.replace("authSource=admin", "authSource=%24external")
    with pytest.raises(OperationFailure) as info:
        connect(ws, uri).admin.command("ping")
    assert info.value.code == 18


def test_client_certificate_subjects_are_what_trustme_issues(ws: Workspace) -> None:
    with pytest.raises(ValueError, match="CN, OU and O"):
        ws.client_certificate("CN=etl,O=acme")
    with pytest.raises(ValueError, match=r"CN=\.\.\.,OU=\.\.\.,O="):
        ws.client_certificate("CN=etl,OU=a,O=b,C=US")
    with open(ws.client_certificate(ETL)) as pem:
        assert [line for line in pem if line.startswith("-----BEGIN")] == [
            "-----BEGIN EC PRIVATE KEY-----\n",
            "-----BEGIN CERTIFICATE-----\n",
        ]


def test_workspaces_with_their_own_files_issue_no_certificates(ws: Workspace) -> None:
    assert ws.tls is not None
    with (
        Workspace(tls_cert_key_file=ws.tls.cert_key_file, tls_ca_file=ws.tls.ca_file) as other,
        pytest.raises(RuntimeError, match="own CA"),
    ):
        other.client_certificate(ETL)


def test_airflow_connection_with_a_client_certificate(ws: Workspace) -> None:
    path = ws.client_certificate(ETL)
    assert ws.airflow_connection(client_certificate=path) == {
        "conn_type": "asp",
        "host": "127.0.0.1",
        "port": ws.port,
        "extra": {
            "tls_ca_file": ws.ca_file,
            "tls_certificate_key_file": path,
            "auth_mechanism": "MONGODB-X509",
        },
    }
    assert ws.airflow_connection_uri(client_certificate=path).startswith(
        f"asp://127.0.0.1:{ws.port}/?tls_ca_file="
    )
