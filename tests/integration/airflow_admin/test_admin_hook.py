"""AspAdminHook against the emulated Admin API: the connection form turned into a client,
test_connection's words for each failure (401, 403, TLS, no such project), the secret kept
out of every message and masked in Airflow's logs."""

from __future__ import annotations

import json

import pytest
import trustme

from airflow_provider_asp.hooks.admin import AspAdminHook
from asp_core.admin import AdminClient, ApiKey, ServiceAccount
from asp_core.errors import AspConnectionConfigError
from asp_emulator import Workspace

WRONG_SECRET = "mdb_sa_sk_not-the-secret-4410"


@pytest.mark.parametrize("api_key", [False, True], ids=["service_account", "api_key"])
def test_test_connection_lists_the_workspaces(admin_ws: Workspace, admin_conn, api_key) -> None:
    hook = AspAdminHook(admin_conn("asp_admin_t", api_key=api_key))
    ok, message = hook.test_connection()
    assert ok, message
    assert f"as {hook.settings.who}:" in message
    assert hook.settings.who.startswith("API key" if api_key else "service account")
    assert f"project {admin_ws.project_id} has 1 workspace(s) ({admin_ws.workspace_name})" in (
        message
    )
    assert hook.settings.secret not in message
    expected = ApiKey if api_key else ServiceAccount
    assert isinstance(hook.settings.credential, expected)


def test_the_client_is_cached_and_closed(admin_ws: Workspace) -> None:
    with AspAdminHook() as hook:
        client = hook.get_conn()
        assert isinstance(client, AdminClient)
        assert hook.get_conn() is client
        assert client.get_workspace(admin_ws.workspace_name)["name"] == admin_ws.workspace_name
    assert hook._client is None


def test_a_wrong_secret_is_a_401_in_plain_words(admin_ws, add_connection) -> None:
    conn = admin_ws.airflow_admin_connection()
    conn["password"] = WRONG_SECRET
    hook = AspAdminHook(add_connection("asp_admin_wrong", json.dumps(conn)))
    ok, message = hook.test_connection()
    assert not ok
    assert "refused the service account" in message
    assert "(401)" in message
    assert WRONG_SECRET not in message


def test_a_403_names_the_missing_role(admin_ws: Workspace) -> None:
    admin_ws.inject_admin_fault("GET", "*/streams", status=403)
    ok, message = AspAdminHook().test_connection()
    assert not ok
    assert "(403)" in message
    assert "Project Owner or Project Stream Processing Owner" in message


def test_an_unknown_project_is_named(admin_conn) -> None:
    ok, message = AspAdminHook(
        admin_conn("asp_admin_p", project_id="ffffffffffffffffffffffff")
    ).test_connection()
    assert not ok
    assert "knows no project ffffffffffffffffffffffff (404)" in message


def test_an_untrusted_certificate_is_a_tls_failure(admin_conn, tmp_path) -> None:
    stranger = tmp_path / "stranger.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    ok, message = AspAdminHook(
        admin_conn("asp_admin_tls", tls_ca_file=str(stranger))
    ).test_connection()
    assert not ok
    assert "TLS with https://127.0.0.1:" in message
    assert "is the CA file right?" in message


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"project_id": None}, "it has no project_id"),
        ({"auth_type": "password"}, "auth_type must be service_account or api_key"),
        ({"base_url": "http://127.0.0.1:1"}, "base_url must be an https:// URL"),
        ({"timeout": "soon"}, "timeout must be seconds > 0"),
    ],
)
def test_a_wrong_connection_says_what_is_wrong(admin_conn, extra, words) -> None:
    hook = AspAdminHook(admin_conn("asp_admin_bad", **extra))
    with pytest.raises(AspConnectionConfigError, match=words):
        hook.get_conn()
    ok, reason = AspAdminHook(hook.asp_admin_conn_id).test_connection()
    assert not ok
    assert words in reason


def test_the_secret_is_masked_and_never_in_repr(admin_secret: str) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    settings = AspAdminHook().settings
    assert settings.secret == admin_secret
    assert admin_secret not in repr(settings)
    assert settings.scrub(f"a {admin_secret} b") == "a *** b"
    assert redact(f"leaking {admin_secret}") == "leaking ***"  # what Airflow's logs get


def test_core_connection_test_finds_the_hook_by_connection_type(admin_ws, add_connection):
    """What the API server's Test button does: the hook found by the connection type."""
    from airflow.models.connection import Connection

    conn = admin_ws.airflow_admin_connection()
    conn_id = add_connection("asp_admin_core", json.dumps(conn))
    extra = json.dumps(conn.pop("extra"))
    ok, message = Connection(conn_id=conn_id, **conn, extra=extra).test_connection()
    assert ok, message
    assert f"project {admin_ws.project_id} has" in message
