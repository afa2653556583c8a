"""Fixtures of the Admin API client tests: one emulated project over real TLS, and clients
with a token cache of their own (so token counts do not depend on other tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from asp_core.admin import AdminClient, ApiKey, ServiceAccount, TokenCache
from asp_emulator import Workspace


@pytest.fixture(scope="module")
def ws() -> Iterator[Workspace]:
    with Workspace(admin_api=True) as workspace:
        yield workspace


@pytest.fixture
def make_client(ws: Workspace) -> Iterator[Callable[..., AdminClient]]:
    """``make_client(credential=None, **options)``: a client closed after the test (default:
    a new GROUP_OWNER service account, a fresh token cache, a short backoff)."""
    made: list[AdminClient] = []

    def make(credential: ServiceAccount | ApiKey | None = None, **options: Any) -> AdminClient:
        if credential is None:
            credential = ServiceAccount(*ws.service_account())
        options.setdefault("token_cache", TokenCache())
        options.setdefault("backoff", 0.01)
        options.setdefault("timeout", 10.0)
        client = AdminClient(
            ws.project_id, credential, base_url=ws.admin_url, ca_file=ws.ca_file, **options
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
    ws.clear_admin_faults()


@pytest.fixture(params=["service_account", "api_key"])
def client(request: pytest.FixtureRequest, ws: Workspace, make_client: Any) -> AdminClient:
    """A GROUP_STREAM_PROCESSING_OWNER client, with each kind of credential."""
    role = "GROUP_STREAM_PROCESSING_OWNER"
    if request.param == "api_key":
        return make_client(ApiKey(*ws.api_key(role=role)))
    return make_client(ServiceAccount(*ws.service_account(role=role)))
