"""The core's connection settings: from a mapping, a URI and the environment, each checked
before any client exists, with the password never in a message or ``repr``."""

from __future__ import annotations

import logging

import pytest

from asp_core.errors import AspConnectionConfigError
from asp_core.settings import DEFAULT_SOCKET_TIMEOUT_MS, OPTIONAL_FIELDS, WorkspaceSettings

SECRET = "s3cr3t/p@ss"


def test_a_mapping_with_json_and_string_spellings():
    settings = WorkspaceSettings.from_mapping(
        {
            "host": " ws.example.net ",
            "port": "27018",
            "username": "admin",
            "password": SECRET,
            "connect_timeout_ms": 2000,
            "server_selection_timeout_ms": "3000",
            "tls_allow_invalid_certificates": "false",
            "auth_source": "",
        },
        source="resource",
    )
    assert (settings.host, settings.port, settings.username) == ("ws.example.net", 27018, "admin")
    assert settings.timeouts_ms == {
        "connect": 2000,
        "server selection": 3000,
        "socket": DEFAULT_SOCKET_TIMEOUT_MS,
    }
    assert settings.auth_source == "admin"
    assert settings.tls_allow_invalid_certificates is False
    assert SECRET not in repr(settings)
    kwargs = settings.client_kwargs()
    assert kwargs["password"] == SECRET
    assert kwargs["tls"] is True
    assert "tlsAllowInvalidCertificates" not in kwargs


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "it has no host"),
        ({"host": "mongodb://ws.example"}, "hostname only"),
        ({"host": "user:pw@ws.example"}, "hostname only"),
        ({"host": "ws", "port": "http"}, "the port must be 1-65535"),
        ({"host": "ws", "port": 70000}, "the port must be 1-65535"),
        ({"host": "ws", "socket_timeout_ms": "-5"}, "positive number of milliseconds"),
        ({"host": "ws", "connect_timeout_ms": True}, "positive number of milliseconds"),
        ({"host": "ws", "tls_allow_invalid_certificates": "maybe"}, "true or false"),
        ({"host": "ws", "auth_mechanism": "MONGODB-X509"}, "needs 'tls_certificate_key_file'"),
    ],
)
def test_bad_fields_are_refused_with_the_source_and_no_password(fields, message):
    with pytest.raises(AspConnectionConfigError, match=message) as caught:
        WorkspaceSettings.from_mapping({**fields, "password": SECRET}, source="asp")
    assert caught.value.source == "asp"
    assert str(caught.value).startswith("Connection 'asp': ")
    assert SECRET not in str(caught.value)


def test_unknown_fields_are_logged_and_ignored(caplog):
    with caplog.at_level(logging.WARNING):
        settings = WorkspaceSettings.from_mapping({"host": "ws", "tlsCAFile": "/x"}, source="a")
    assert settings.tls_ca_file is None
    assert "unknown field(s) tlsCAFile" in caplog.text


def test_a_uri_with_pymongo_option_names_and_an_encoded_password():
    settings = WorkspaceSettings.from_uri(
        "mongodb://stream%2Dadmin:s3cr3t%2Fp%40ss@127.0.0.1:40123/"
        "?tls=true&tlsCAFile=/tmp/ca.pem&serverSelectionTimeoutMS=2000&project_id=p1"
    )
    assert settings.address == "127.0.0.1:40123"
    assert (settings.username, settings.password) == ("stream-admin", SECRET)
    assert settings.tls_ca_file == "/tmp/ca.pem"
    assert settings.server_selection_timeout_ms == 2000
    assert settings.project_id == "p1"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("mongodb+srv://ws.example/", "must start with mongodb://"),
        ("https://ws.example/", "must start with mongodb://"),
        ("mongodb://ws.example:port/", "port is not a number"),
        ("mongodb:///?tlsCAFile=/x", "it has no host"),
    ],
)
def test_bad_uris_are_refused(uri, message):
    with pytest.raises(AspConnectionConfigError, match=message):
        WorkspaceSettings.from_uri(uri)


def test_the_environment_with_a_uri_and_fields_that_override_it():
    environ = {
        "ASP_URI": "mongodb://u:old@ws.example:27017/?appName=from-uri",
        "ASP_PASSWORD": SECRET,
        "ASP_TLS_CA_FILE": "/etc/ca.pem",
        "OTHER_HOST": "ignored",
    }
    settings = WorkspaceSettings.from_env(environ=environ)
    assert (settings.host, settings.username, settings.password) == ("ws.example", "u", SECRET)
    assert (settings.app_name, settings.tls_ca_file) == ("from-uri", "/etc/ca.pem")
    assert settings.source == "ASP_*"


def test_the_environment_field_by_field_with_a_prefix():
    environ = {"WS_HOST": "ws.example", "WS_PORT": "27020", "WS_AUTH_MECHANISM": "MONGODB-X509"}
    environ["WS_TLS_CERTIFICATE_KEY_FILE"] = "/k.pem"
    settings = WorkspaceSettings.from_env("WS_", environ)
    assert settings.port == 27020
    assert settings.uses_x509
    assert settings.client_kwargs()["authSource"] == "$external"
    with pytest.raises(AspConnectionConfigError, match="it has no host"):
        WorkspaceSettings.from_env("NOPE_", environ)


def test_the_airflow_form_lists_exactly_the_optional_fields():
    from airflow_provider_asp.hooks.connection_form import ADMIN_CONN_ID, CONN_FIELDS

    # and the one Airflow-only field: the asp_admin connection a workspace is looked up with
    assert tuple(CONN_FIELDS) == (*OPTIONAL_FIELDS, ADMIN_CONN_ID)
