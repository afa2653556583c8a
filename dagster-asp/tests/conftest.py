"""Fixtures of the Dagster package's tests: the emulator (``asp_workspace`` comes from the
``asp-emulator`` pytest plugin) as a resource, and a clean Dagster home."""

import pytest

from asp_emulator import Workspace
from dagster_asp.resource import AspWorkspace
from dagster_support.workspaces import resource_for


@pytest.fixture
def asp(asp_workspace: Workspace) -> AspWorkspace:
    """The session's emulated workspace as an ``AspWorkspace`` resource."""
    return resource_for(asp_workspace)


@pytest.fixture(autouse=True)
def dagster_home(tmp_path, monkeypatch):
    """Each test its own ``DAGSTER_HOME``: nothing written to the user's."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home
