"""An ``asp`` Airflow connection, checked and turned into workspace client arguments.

Pure: no pymongo, no network. Extras arrive as JSON values (UI, JSON form) or strings (URI
form), so numbers and booleans are accepted in both spellings. The password is kept out
of ``repr`` and out of every message.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_asp.exceptions import AspConnectionConfigError
from airflow_provider_asp.hooks.connection_form import CONN_FIELDS, DEFAULT_PORT

if TYPE_CHECKING:
    from airflow.sdk import Connection

log = logging.getLogger(__name__)

#: Every command gets a bounded wait for its reply unless the connection says otherwise.
DEFAULT_SOCKET_TIMEOUT_MS = 60_000
_LEGACY_PREFIX = "extra__asp__"
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}
_X509 = "MONGODB-X509"


def _flag(conn_id: str, key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if value is not None else ""
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise AspConnectionConfigError(conn_id, f"extra {key!r} must be true or false, not {value!r}.")


def _millis(conn_id: str, key: str, value: Any) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not str(value).strip().isdigit() or int(value) < 1:
        raise AspConnectionConfigError(
            conn_id, f"extra {key!r} must be a positive number of milliseconds, not {value!r}."
        )
    return int(value)


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _normalized_extras(conn_id: str, extra: Mapping[str, Any]) -> dict[str, Any]:
    """Extras with the old ``extra__asp__`` prefix removed; unknown keys warned about."""
    extras = {str(key).removeprefix(_LEGACY_PREFIX): value for key, value in extra.items()}
    unknown = sorted(set(extras) - set(CONN_FIELDS))
    if unknown:
        log.warning(
            "Connection %r: ignoring unknown extra field(s) %s; known fields: %s.",
            conn_id,
            ", ".join(unknown),
            ", ".join(CONN_FIELDS),
        )
    return {key: value for key, value in extras.items() if key in CONN_FIELDS}


@dataclasses.dataclass(frozen=True)
class WorkspaceSettings:
    """Where the workspace is and how to reach it, from one ``asp`` connection."""

    conn_id: str
    host: str
    port: int = DEFAULT_PORT
    login: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    tls_ca_file: str | None = None
    tls_certificate_key_file: str | None = None
    auth_mechanism: str | None = None
    auth_source: str = "admin"
    app_name: str | None = None
    connect_timeout_ms: int | None = None
    server_selection_timeout_ms: int | None = None
    socket_timeout_ms: int = DEFAULT_SOCKET_TIMEOUT_MS
    tls_allow_invalid_certificates: bool = False
    project_id: str | None = None
    workspace_name: str | None = None

    @classmethod
    def from_connection(cls, conn: Connection, extra: Mapping[str, Any]) -> WorkspaceSettings:
        """Check ``conn`` (with its parsed ``extra``) and build the settings."""
        conn_id = conn.conn_id
        host = _text(conn.host)
        if host is None:
            raise AspConnectionConfigError(
                conn_id, "it has no host: set it to the workspace hostname."
            )
        if "://" in host or "/" in host:
            raise AspConnectionConfigError(
                conn_id,
                "the host must be the workspace hostname only (no scheme, path or credentials).",
            )
        extras = _normalized_extras(conn_id, extra)
        mechanism = _text(extras.get("auth_mechanism"))
        key_file = _text(extras.get("tls_certificate_key_file"))
        if mechanism is not None and mechanism.upper() == _X509 and key_file is None:
            raise AspConnectionConfigError(
                conn_id, f"{_X509} needs the extra 'tls_certificate_key_file'."
            )
        socket_timeout = _millis(conn_id, "socket_timeout_ms", extras.get("socket_timeout_ms"))
        return cls(
            conn_id=conn_id,
            host=host,
            port=int(conn.port) if conn.port else DEFAULT_PORT,
            login=_text(conn.login),
            password=conn.password or None,
            tls_ca_file=_text(extras.get("tls_ca_file")),
            tls_certificate_key_file=key_file,
            auth_mechanism=mechanism,
            auth_source=_text(extras.get("auth_source")) or "admin",
            app_name=_text(extras.get("app_name")),
            connect_timeout_ms=_millis(
                conn_id, "connect_timeout_ms", extras.get("connect_timeout_ms")
            ),
            server_selection_timeout_ms=_millis(
                conn_id, "server_selection_timeout_ms", extras.get("server_selection_timeout_ms")
            ),
            socket_timeout_ms=socket_timeout or DEFAULT_SOCKET_TIMEOUT_MS,
            tls_allow_invalid_certificates=_flag(
                conn_id,
                "tls_allow_invalid_certificates",
                extras.get("tls_allow_invalid_certificates", False),
            ),
            project_id=_text(extras.get("project_id")),
            workspace_name=_text(extras.get("workspace_name")),
        )

    @property
    def address(self) -> str:
        """``host:port``, for messages."""
        return f"{self.host}:{self.port}"

    @property
    def timeouts_ms(self) -> dict[str, int | None]:
        return {
            "connect": self.connect_timeout_ms,
            "server selection": self.server_selection_timeout_ms,
            "socket": self.socket_timeout_ms,
        }

    @property
    def uses_x509(self) -> bool:
        """Whether the connection authenticates with a client certificate (MONGODB-X509)."""
        return bool(self.auth_mechanism) and str(self.auth_mechanism).upper() == _X509

    @property
    def command_timeout(self) -> float:
        """Seconds one command may wait for its reply (the socket timeout)."""
        return self.socket_timeout_ms / 1000

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``StreamProcessingClient`` (host and port included)."""
        options: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "username": self.login,
            "password": self.password,
            "tls": True,
            "tlsCAFile": self.tls_ca_file,
            "tlsCertificateKeyFile": self.tls_certificate_key_file,
            "authMechanism": self.auth_mechanism,
            "authSource": self.auth_source,
            "appname": self.app_name,
            "connectTimeoutMS": self.connect_timeout_ms,
            "serverSelectionTimeoutMS": self.server_selection_timeout_ms,
            "socketTimeoutMS": self.socket_timeout_ms,
            "tlsAllowInvalidCertificates": self.tls_allow_invalid_certificates or None,
        }
        if self.uses_x509:
            options["authSource"] = "$external"
        return {key: value for key, value in options.items() if value is not None}

    def scrub(self, text: str) -> str:
        """``text`` with the password replaced by ``***`` (for messages built from errors)."""
        return text.replace(self.password, "***") if self.password else text
