"""Fixtures: emulated workspaces (both reply shapes) and pymongo clients that get closed."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asp_emulator import Workspace
from asp_emulator.auth import UserSpec
from pymongo import MongoClient

USERS: dict[str, UserSpec] = {
    "admin": "admin-password",
    "reader": ("reader-password", ["readAnyDatabase"]),
}

_names = itertools.count(1)


@pytest.fixture(scope="session")
def workspace() -> Iterator[Workspace]:
    """The live-shaped workspace most tests share."""
    with Workspace(users=USERS, solar_rate=200.0) as ws:
        yield ws


@pytest.fixture(scope="session")
def spec_workspace() -> Iterator[Workspace]:
    """A workspace answering in the draft spec's shapes."""
    with Workspace(users=USERS, reply_shape="spec", solar_rate=200.0) as ws:
        yield ws


@pytest.fixture(params=["live", "spec"])
def any_workspace(request: pytest.FixtureRequest) -> Workspace:
    """Each test runs against both reply shapes."""
    name = "workspace" if request.param == "live" else "spec_workspace"
    return request.getfixturevalue(name)


@pytest.fixture
def connect() -> Iterator[Callable[..., MongoClient[dict[str, Any]]]]:
    """Make pymongo clients for a workspace; all are closed after the test."""
    clients: list[MongoClient[dict[str, Any]]] = []

    def make(ws: Workspace, uri: str | None = None, **kwargs: Any) -> MongoClient[dict[str, Any]]:
        kwargs.setdefault("serverSelectionTimeoutMS", 5000)
        client: MongoClient[dict[str, Any]] = MongoClient(uri or ws.uri, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def admin(workspace: Workspace, connect: Callable[..., MongoClient[dict[str, Any]]]) -> Any:
    """The ``admin`` database of an authenticated client of the live workspace."""
    return connect(workspace).admin


@pytest.fixture
def name() -> str:
    """A processor name unique in the session."""
    return f"proc{next(_names)}"
