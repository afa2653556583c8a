"""The component's YAML in tests: the workspace from environment variables (set to the
emulator's), processors given per test."""

from typing import Any

import pytest

from asp_emulator import Workspace
from dagster_support.workspaces import PASSWORD, USER

TYPE = "dagster_asp.AspProcessorsComponent"

WORKSPACE_YAML = {
    "host": "{{ env.ASP_HOST }}",
    "port": "{{ env.ASP_PORT }}",
    "username": "{{ env.ASP_USERNAME }}",
    "password": "{{ env.ASP_PASSWORD }}",
    "tls_ca_file": "{{ env.ASP_TLS_CA_FILE }}",
    "server_selection_timeout_ms": 5000,
}


def set_workspace_env(monkeypatch: pytest.MonkeyPatch, workspace: Workspace) -> None:
    """``ASP_HOST`` … ``ASP_TLS_CA_FILE`` of the emulated workspace."""
    for name, value in {
        "ASP_HOST": workspace.host,
        "ASP_PORT": str(workspace.port),
        "ASP_USERNAME": USER,
        "ASP_PASSWORD": PASSWORD,
        "ASP_TLS_CA_FILE": workspace.ca_file,
    }.items():
        monkeypatch.setenv(name, value)


def defs_yaml(processors: list[dict[str, Any]], **attributes: Any) -> dict[str, Any]:
    """A ``defs.yaml`` body: the templated workspace, ``processors`` and more attributes."""
    return {
        "type": TYPE,
        "attributes": {"workspace": WORKSPACE_YAML, "processors": processors, **attributes},
    }
