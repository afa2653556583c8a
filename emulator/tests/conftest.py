"""Fixtures: emulated workspaces (both reply shapes) and pymongo clients that get closed.

Internal errors are bugs: whatever the emulator (or asyncio, for its callbacks) logs at
ERROR level fails the test that was running, unless the test took it with the
``internal_errors`` fixture.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Generator, Iterator
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


class InternalErrors(logging.Handler):
    """Collects ERROR records of the emulator's loggers and asyncio's."""

    LOGGERS = ("asp_emulator", "asyncio", "aiohttp")

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[str]:
        """The messages collected so far (with their exception), forgetting them."""
        records, self.records = self.records, []
        return [
            record.getMessage() + (f": {record.exc_info[1]!r}" if record.exc_info else "")
            for record in records
        ]


_INTERNAL_ERRORS = InternalErrors()
for _logger in InternalErrors.LOGGERS:
    logging.getLogger(_logger).addHandler(_INTERNAL_ERRORS)


def _fail_on_internal_errors(when: str) -> None:
    errors = _INTERNAL_ERRORS.take()
    if errors:
        pytest.fail(f"the emulator logged internal errors ({when}): {errors}", pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """A test fails when the emulator logged an internal error before it ended."""
    result = yield
    _fail_on_internal_errors("during the test")
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    """...or while its fixtures were torn down."""
    result = yield
    _fail_on_internal_errors("during teardown")
    return result


@pytest.fixture
def internal_errors() -> InternalErrors:
    """For tests that cause an internal error on purpose: ``take()`` what was logged."""
    return _INTERNAL_ERRORS


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
