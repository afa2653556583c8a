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
#: With the Admin API: the variables the Dagster example's ``AspAdmin`` reads.
ADMIN_ENV_NAMES = (
    "ASP_ADMIN_URL",
    "ASP_ADMIN_PROJECT_ID",
    "ASP_ADMIN_CLIENT_ID",
    "ASP_ADMIN_CLIENT_SECRET",
    "ASP_WORKSPACE_NAME",
)


def ready_document(workspace: Workspace) -> dict[str, Any]:
    """The one JSON line: where it listens and who may log in (and, with the Admin API, its
    base URL and project)."""
    document: dict[str, Any] = {
        "uri": workspace.uri,
        "host": workspace.host,
        "port": workspace.port,
        "ca_file": workspace.ca_file,
        "username": workspace.username,
    }
    if workspace.admin_api:
        document["admin_url"] = workspace.admin_url
        document["project_id"] = workspace.project_id
        document["workspace_name"] = workspace.workspace_name
    return document


def environment(workspace: Workspace) -> dict[str, str]:
    """``AIRFLOW_CONN_ASP_DEFAULT`` (the connection's JSON form) and the ``ASP_*`` variables,
    for the first user; with the Admin API also ``AIRFLOW_CONN_ASP_ADMIN_DEFAULT`` and the
    ``ASP_ADMIN_*`` variables, for one new service account (Project Owner)."""
    env = {
        "AIRFLOW_CONN_ASP_DEFAULT": json.dumps(workspace.airflow_connection()),
        "ASP_HOST": workspace.host,
        "ASP_PORT": str(workspace.port),
        "ASP_USERNAME": workspace.username,
        "ASP_PASSWORD": workspace.password,
        "ASP_TLS_CA_FILE": workspace.ca_file,
    }
    if workspace.admin_api:
        connection = workspace.airflow_admin_connection()
        env["AIRFLOW_CONN_ASP_ADMIN_DEFAULT"] = json.dumps(connection)
        env["ASP_ADMIN_URL"] = workspace.admin_url
        env["ASP_ADMIN_PROJECT_ID"] = workspace.project_id
        env["ASP_ADMIN_CLIENT_ID"] = connection["login"]
        env["ASP_ADMIN_CLIENT_SECRET"] = connection["password"]
        env["ASP_WORKSPACE_NAME"] = workspace.workspace_name
    return env


def export_lines(workspace: Workspace) -> list[str]:
    """``export`` lines, every value shell-quoted: Airflow's connection, then Dagster's (and
    the core's) variables; with the Admin API, the same two for it."""
    env = environment(workspace)

    def assign(name: str) -> str:
        return f"{name}={shlex.quote(env[name])}"

    lines = [
        f"export {assign('AIRFLOW_CONN_ASP_DEFAULT')}",
        "export " + " ".join(assign(name) for name in ENV_NAMES),
    ]
    if workspace.admin_api:
        lines.append(f"export {assign('AIRFLOW_CONN_ASP_ADMIN_DEFAULT')}")
        lines.append("export " + " ".join(assign(name) for name in ADMIN_ENV_NAMES))
    return lines


def write_env_file(path: str, lines: list[str]) -> None:
    """``lines`` into ``path``, readable by its owner only (it holds a password)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write("\n".join(lines) + "\n")
