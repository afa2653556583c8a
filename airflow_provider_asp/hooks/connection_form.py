"""The ``asp`` connection form, declared once, and the connection turned into core settings.

Airflow 3.2+ reads :data:`CONN_FIELDS` and :data:`UI_FIELD_BEHAVIOUR` from the provider
info without importing the hook; older versions call the hook's classmethods, which
:func:`legacy_form_widgets` and :func:`legacy_field_behaviour` build from the same data.
:func:`settings_from_connection` is the one adapter from an Airflow ``Connection`` to
:class:`asp_core.settings.WorkspaceSettings`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from asp_core.errors import AspConnectionConfigError
from asp_core.settings import DEFAULT_PORT, WorkspaceSettings

if TYPE_CHECKING:
    from airflow.sdk import Connection

#: Extras saved by Airflow 2's forms carried this prefix.
_LEGACY_PREFIX = "extra__asp__"
#: The extra naming an ``asp_admin`` connection that resolves the workspace's hostname.
ADMIN_CONN_ID = "admin_conn_id"


def _text(label: str, description: str) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": ["string", "null"]}}


def _number(label: str, description: str) -> dict[str, Any]:
    return {
        "label": label,
        "description": description,
        "schema": {"type": ["integer", "null"], "minimum": 1},
    }


#: Extra fields, stored un-prefixed in the connection's extra.
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "tls_ca_file": _text(
        "TLS CA file",
        "PEM file of the CA that signed the workspace certificate, e.g. "
        "/etc/ssl/certs/workspace-ca.pem. Leave empty for Atlas (the system's CAs).",
    ),
    "tls_certificate_key_file": _text(
        "TLS client certificate file",
        "PEM file holding the client certificate and its private key (X.509 authentication).",
    ),
    "auth_mechanism": _text(
        "Authentication mechanism",
        "Empty: negotiated (SCRAM-SHA-256). MONGODB-X509 with a client certificate file.",
    ),
    "auth_source": {
        "label": "Authentication database",
        "description": "Database the user is defined in.",
        "schema": {"type": ["string", "null"], "default": "admin"},
    },
    "app_name": _text("Application name", "Shown in the workspace's logs (appname)."),
    "connect_timeout_ms": _number(
        "Connect timeout (ms)", "Time allowed to open a connection (pymongo default 20000)."
    ),
    "server_selection_timeout_ms": _number(
        "Server selection timeout (ms)",
        "Time allowed to find the workspace before a command fails (pymongo default 30000).",
    ),
    "socket_timeout_ms": _number(
        "Socket timeout (ms)", "Time allowed for one command's reply (default 60000)."
    ),
    "tls_allow_invalid_certificates": {
        "label": "Allow invalid TLS certificates (insecure)",
        "description": "Skips certificate verification: never in production.",
        "schema": {"type": ["boolean", "null"], "default": False},
    },
    "project_id": _text(
        "Atlas project id",
        "The 24-hex-digit project (group) id, e.g. 5f1a0c0ffee0c0ffee0c0ffe; "
        "for the link to the processor in the Atlas UI.",
    ),
    "workspace_name": _text(
        "Workspace name",
        "The stream processing workspace's name, e.g. solar-workspace; "
        "for the link to the Atlas UI, and the workspace of the Admin API connection.",
    ),
    ADMIN_CONN_ID: _text(
        "Admin API connection",
        "An asp_admin connection: with it and the workspace name, leave the hostname "
        "empty; it is read from the Admin API (the workspace's hostnames) when a task runs.",
    ),
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema"],
    "relabeling": {
        "host": "Workspace hostname",
        "login": "Database user",
        "password": "Database user password",
    },
    "placeholders": {
        "host": "atlas-stream-0123456789abcdef-xxxxx.virginia-usa.a.query.mongodb.net",
        "port": str(DEFAULT_PORT),
        "login": "stream-admin",
        "tls_ca_file": "/etc/ssl/certs/workspace-ca.pem",
        "auth_source": "admin",
        "project_id": "0123456789abcdef01234567",
        "workspace_name": "my-workspace",
        ADMIN_CONN_ID: "asp_admin_default",
    },
}


def legacy_field_behaviour(behaviour: Mapping[str, Any] = UI_FIELD_BEHAVIOUR) -> dict[str, Any]:
    """:data:`UI_FIELD_BEHAVIOUR` (or another connection type's) in the shape of
    ``BaseHook.get_ui_field_behaviour``."""
    return {key.replace("-", "_"): value for key, value in behaviour.items()}


def legacy_form_widgets(fields: Mapping[str, Any] = CONN_FIELDS) -> dict[str, Any]:
    """:data:`CONN_FIELDS` (or another connection type's) as WTForms fields
    (``BaseHook.get_connection_form_widgets``)."""
    from flask_appbuilder.fieldwidgets import (  # type: ignore[import-not-found, import-untyped, unused-ignore]
        BS3TextFieldWidget,
    )
    from flask_babel import lazy_gettext  # type: ignore[import-not-found, import-untyped, unused-ignore]
    from wtforms import (  # type: ignore[import-not-found, import-untyped, unused-ignore]
        BooleanField,
        IntegerField,
        StringField,
    )
    from wtforms.validators import NumberRange, Optional  # type: ignore[import-not-found, import-untyped, unused-ignore]

    widgets: dict[str, Any] = {}
    for name, spec in fields.items():
        kind = spec["schema"]["type"][0]
        label = lazy_gettext(spec["label"])
        description = spec["description"]
        if kind == "boolean":
            widgets[name] = BooleanField(label, description=description, default=False)
        elif kind == "integer":
            widgets[name] = IntegerField(
                label,
                description=description,
                validators=[Optional(), NumberRange(min=1)],
                widget=BS3TextFieldWidget(),
            )
        else:
            widgets[name] = StringField(
                label,
                description=description,
                default=spec["schema"].get("default"),
                widget=BS3TextFieldWidget(),
            )
    return widgets


def _extras(extra: Mapping[str, Any]) -> dict[str, Any]:
    return {str(key).removeprefix(_LEGACY_PREFIX): value for key, value in extra.items()}


@dataclasses.dataclass(frozen=True)
class AdminReference:
    """A connection that names an ``asp_admin`` connection and a workspace instead of a
    host: the hostname is read from the Admin API when a task runs."""

    admin_conn_id: str
    workspace_name: str


@dataclasses.dataclass(frozen=True)
class ResolvedWorkspace:
    """What the Admin API said of the workspace: its wire address, and the project."""

    host: str
    port: int | None
    project_id: str


def admin_reference(conn: Connection, extra: Mapping[str, Any]) -> AdminReference | None:
    """The ``asp_admin`` connection and workspace ``conn`` names (None: it has a host)."""
    extras = _extras(extra)
    admin_conn_id = str(extras.get(ADMIN_CONN_ID) or "").strip()
    if not admin_conn_id:
        return None
    if conn.host:
        raise AspConnectionConfigError(
            conn.conn_id,
            f"set either the hostname or {ADMIN_CONN_ID} (with the workspace name), not both.",
        )
    workspace = str(extras.get("workspace_name") or "").strip()
    if not workspace:
        raise AspConnectionConfigError(
            conn.conn_id, f"{ADMIN_CONN_ID} needs the workspace name (workspace_name)."
        )
    return AdminReference(admin_conn_id, workspace)


def settings_from_connection(
    conn: Connection, extra: Mapping[str, Any], resolved: ResolvedWorkspace | None = None
) -> WorkspaceSettings:
    """Check ``conn`` (with its parsed ``extra``) and build the core's settings; a
    connection naming an ``asp_admin`` connection takes its host, port and project from
    ``resolved`` (:func:`admin_reference`)."""
    extras = _extras(extra)
    extras.pop(ADMIN_CONN_ID, None)
    fields = {
        **extras,
        "host": conn.host,
        "port": conn.port,
        "username": conn.login,
        "password": conn.password,
    }
    if resolved is not None:
        fields.update(host=resolved.host, port=conn.port or resolved.port)
        fields.setdefault("project_id", resolved.project_id)
    return WorkspaceSettings.from_mapping(fields, source=conn.conn_id)
