"""The emulator as a Dagster resource."""

from asp_emulator import Workspace
from dagster_asp.resource import AspWorkspace

USER, PASSWORD = "admin", "admin-password"


def resource_for(workspace: Workspace, **overrides: object) -> AspWorkspace:
    """An ``AspWorkspace`` of the emulated ``workspace`` (its user, its CA)."""
    fields: dict[str, object] = {
        "host": workspace.host,
        "port": workspace.port,
        "username": USER,
        "password": PASSWORD,
        "tls_ca_file": workspace.ca_file,
        "server_selection_timeout_ms": 5000,
    }
    return AspWorkspace(**{**fields, **overrides})  # type: ignore[arg-type]
