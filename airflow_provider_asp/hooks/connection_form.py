"""The ``asp`` connection form, declared once, and the connection turned into core settings.

Airflow 3.2+ reads :data:`CONN_FIELDS` and :data:`UI_FIELD_BEHAVIOUR` from the provider
info without importing the hook; older versions call the hook's classmethods, which
:func:`legacy_form_widgets` and :func:`legacy_field_behaviour` build from the same data.
:func:`settings_from_connection` is the one adapter from an Airflow ``Connection`` to
:class:`asp_core.settings.WorkspaceSettings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from asp_core.settings import DEFAULT_PORT, WorkspaceSettings

if TYPE_CHECKING:
    from airflow.sdk import Connection

#: Extras saved by Airflow 2's forms carried this prefix.
_LEGACY_PREFIX = "extra__asp__"


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
        "for the link to the Atlas UI.",
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


def settings_from_connection(conn: Connection, extra: Mapping[str, Any]) -> WorkspaceSettings:
    """Check ``conn`` (with its parsed ``extra``) and build the core's settings."""
    extras = {str(key).removeprefix(_LEGACY_PREFIX): value for key, value in extra.items()}
    fields = {
        **extras,
        "host": conn.host,
        "port": conn.port,
        "username": conn.login,
        "password": conn.password,
    }
    return WorkspaceSettings.from_mapping(fields, source=conn.conn_id)
