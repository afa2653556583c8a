"""Fixtures of the client tests: emulated workspaces (both reply shapes), clients (sync and
async) with command monitoring, and unique processor names."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from asp_core.stream_processing import (
    AsyncStreamProcessingClient,
    StreamProcessingClient,
)
from asp_emulator import Workspace
from tests.support.client import Recorder


@pytest.fixture(scope="session", params=["live", "spec"])
def workspace(request: pytest.FixtureRequest) -> Iterator[Workspace]:
    """One emulated workspace per reply shape, for the whole session."""
    with Workspace(users={"admin": "secret"}, reply_shape=request.param) as ws:
        yield ws


@pytest.fixture
def recorder(workspace: Workspace) -> Iterator[Recorder]:
    yield Recorder()
    workspace.clear_faults()


@pytest.fixture(params=["sync", "async"])
async def client(
    request: pytest.FixtureRequest, workspace: Workspace, recorder: Recorder
) -> AsyncIterator[StreamProcessingClient | AsyncStreamProcessingClient]:
    """A sync or an async client (tests drive both through :func:`call`)."""
    if request.param == "sync":
        with StreamProcessingClient(workspace.uri, event_listeners=[recorder]) as sync:
            yield sync
    else:
        async with AsyncStreamProcessingClient(workspace.uri, event_listeners=[recorder]) as aio:
            yield aio


@pytest.fixture
def name() -> str:
    """A processor name no other test uses."""
    return f"t_{uuid.uuid4().hex[:10]}"
