"""What ``asp-emulator serve`` prints once it listens: the JSON line, and the shell lines a
user pastes (or sources) to point Airflow and Dagster at the workspace."""

from __future__ import annotations

import json
import os
import shlex
from typing import Any

from asp_emulator.workspace import Workspace

#: The variables of ``asp_core.settings.WorkspaceSettings.from_env`` (the Dagster examples'
#: ``AspWorkspace`` reads the same names).
ENV_NAMES = ("ASP_HOST", "ASP_PORT", "ASP_USERNAME", "ASP_PASSWORD", "ASP_TLS_CA_FILE")


def ready_document(workspace: Workspace) -> dict[str, Any]:
    """The one JSON line: where it listens and who may log in."""
    return {
        "uri": workspace.uri,
        "host": workspace.host,
        "port": workspace.port,
        "ca_file": workspace.ca_file,
        "username": workspace.username,
    }


def environment(workspace: Workspace) -> dict[str, str]:
    """``AIRFLOW_CONN_ASP_DEFAULT`` (the connection's JSON form) and the ``ASP_*`` variables,
    for the first user."""
    return {
        "AIRFLOW_CONN_ASP_DEFAULT": json.dumps(workspace.airflow_connection()),
        "ASP_HOST": workspace.host,
        "ASP_PORT": str(workspace.port),
        "ASP_USERNAME": workspace.username,
        "ASP_PASSWORD": workspace.password,
        "ASP_TLS_CA_FILE": workspace.ca_file,
    }


def export_lines(workspace: Workspace) -> list[str]:
    """Two ``export`` lines, every value shell-quoted: Airflow's connection, then Dagster's
    (and the core's) variables."""
    env = environment(workspace)

    def assign(name: str) -> str:
        return f"{name}={shlex.quote(env[name])}"

    return [
        f"export {assign('AIRFLOW_CONN_ASP_DEFAULT')}",
        "export " + " ".join(assign(name) for name in ENV_NAMES),
    ]


def write_env_file(path: str, lines: list[str]) -> None:
    """``lines`` into ``path``, readable by its owner only (it holds a password)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write("\n".join(lines) + "\n")
