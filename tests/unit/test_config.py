"""Workspace connection rules (pure: no server, no DNS)."""

from __future__ import annotations

import pytest
from pymongo.errors import ConfigurationError

from asp_core.stream_processing import (
    AsyncStreamProcessingClient,
    StreamProcessingClient,
)
from asp_core.stream_processing.config import workspace_client_kwargs

HOST = "atlas-stream-699c842ef433fe6001480b17-etif1.virginia-usa.a.query.mongodb.net"


@pytest.mark.parametrize(
    "uri",
    [
        f"mongodb+srv://u:p@{HOST}/",
        f"MONGODB+SRV://{HOST}",
        # an SRV record that does not exist: refused before any DNS lookup
        "mongodb+srv://no-such-host.invalid/",
    ],
)
def test_srv_is_refused(uri):
    with pytest.raises(ConfigurationError, match=r"mongodb\+srv"):
        workspace_client_kwargs(uri, {})
    with pytest.raises(ConfigurationError, match=r"mongodb\+srv"):
        workspace_client_kwargs([f"mongodb://{HOST}", uri], {})


@pytest.mark.parametrize(
    ("uri", "kwargs"),
    [
        (f"mongodb://{HOST}/?tls=false", {}),
        (f"mongodb://{HOST}/?ssl=false", {}),
        (f"mongodb://{HOST}/?TLS=false", {}),
        (f"mongodb://{HOST}/", {"tls": False}),
        (f"mongodb://{HOST}/", {"ssl": False}),
        (f"mongodb://{HOST}/", {"TLS": "false"}),
        (HOST, {"ssl": "False"}),
        (f"mongodb://{HOST}/?tls=true", {"tls": False}),
    ],
)
def test_tls_cannot_be_disabled(uri, kwargs):
    with pytest.raises(ConfigurationError, match="TLS cannot be disabled"):
        workspace_client_kwargs(uri, kwargs)


def test_tls_and_auth_source_are_added():
    assert workspace_client_kwargs(f"mongodb://u:p@{HOST}/", {}) == {
        "tls": True,
        "authSource": "admin",
    }
    # a database in the path is not an authSource
    assert workspace_client_kwargs(f"mongodb://u:p@{HOST}/other", {})["authSource"] == "admin"
    assert workspace_client_kwargs(None, {}) == {"tls": True, "authSource": "admin"}


def test_explicit_settings_are_kept():
    kept = workspace_client_kwargs(f"mongodb://{HOST}/?authSource=$external", {"tls": True})
    assert kept == {"tls": True}
    assert workspace_client_kwargs(HOST, {"authsource": "x", "ssl": True}) == {
        "authsource": "x",
        "ssl": True,
    }
    passed = workspace_client_kwargs(
        f"mongodb://{HOST}/", {"tlsCAFile": "/ca.pem", "event_listeners": []}
    )
    assert passed == {
        "tlsCAFile": "/ca.pem",
        "event_listeners": [],
        "tls": True,
        "authSource": "admin",
    }


@pytest.mark.parametrize("client_class", [StreamProcessingClient, AsyncStreamProcessingClient])
def test_clients_apply_the_rules(client_class):
    with pytest.raises(ConfigurationError, match=r"mongodb\+srv"):
        client_class(f"mongodb+srv://{HOST}/")
    with pytest.raises(ConfigurationError, match="TLS cannot be disabled"):
        client_class(f"mongodb://{HOST}/", tls=False)
