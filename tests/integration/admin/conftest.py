"""Fixtures of the Admin API client tests: one emulated project over real TLS, and clients
with a token cache of their own (so token counts do not depend on other tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from asp_core.admin import AdminClient, ApiKey, AsyncAdminClient, ServiceAccount
from asp_emulator import Workspace
from tests.support.admin_client import client_options


@pytest.fixture(scope="module")
def ws() -> Iterator[Workspace]:
    with Workspace(admin_api=True) as workspace:
        yield workspace


@pytest.fixture
def make_client(ws: Workspace) -> Iterator[Callable[..., AdminClient]]:
    """``make_client(credential=None, **options)``: a client closed after the test (default:
    a new GROUP_OWNER service account; options over :func:`client_options`)."""
    made: list[AdminClient] = []

    def make(credential: ServiceAccount | ApiKey | None = None, **options: Any) -> AdminClient:
        credential = credential or ServiceAccount(*ws.service_account())
        client = AdminClient(ws.project_id, credential, **client_options(ws, **options))
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
    ws.clear_admin_faults()


@pytest.fixture
async def make_async(ws: Workspace) -> AsyncIterator[Callable[..., AsyncAdminClient]]:
    """``make_async(credential=None, **options)``: like ``make_client``, asynchronous."""
    made: list[AsyncAdminClient] = []

    def make(credential: ServiceAccount | ApiKey | None = None, **options: Any) -> AsyncAdminClient:
        credential = credential or ServiceAccount(*ws.service_account())
        client = AsyncAdminClient(ws.project_id, credential, **client_options(ws, **options))
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()
    ws.clear_admin_faults()


@pytest.fixture(params=["service_account", "api_key"])
def client(request: pytest.FixtureRequest, ws: Workspace, make_client: Any) -> AdminClient:
    """A GROUP_STREAM_PROCESSING_OWNER client, with each kind of credential."""
    role = "GROUP_STREAM_PROCESSING_OWNER"
    if request.param == "api_key":
        return make_client(ApiKey(*ws.api_key(role=role)))
    return make_client(ServiceAccount(*ws.service_account(role=role)))
