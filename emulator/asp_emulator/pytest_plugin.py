"""pytest fixtures, registered through the ``pytest11`` entry point: installing
``asp-emulator`` is enough, no ``pytest_plugins`` line.

``asp_workspace`` is one emulated workspace for the whole session; ``asp_workspace_factory``
makes extra ones (other users, reply shapes, TLS files) and stops them at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from asp_emulator.workspace import Workspace


@pytest.fixture(scope="session")
def asp_workspace_factory() -> Iterator[Callable[..., Workspace]]:
    """Start workspaces with any ``Workspace`` arguments; all are stopped after the session."""
    started: list[Workspace] = []

    def make(**kwargs: Any) -> Workspace:
        workspace = Workspace(**kwargs).start()
        started.append(workspace)
        return workspace

    yield make
    for workspace in started:
        workspace.stop()


@pytest.fixture(scope="session")
def asp_workspace(asp_workspace_factory: Callable[..., Workspace]) -> Workspace:
    """A running workspace (user ``admin``/``admin-password`` with ``atlasAdmin``)."""
    return asp_workspace_factory()
