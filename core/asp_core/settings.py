"""A workspace's connection settings, checked, from a mapping of fields, a URI or the environment.

Pure: no pymongo, no network. Values arrive as JSON values (an Airflow form, a Dagster
config) or strings (a URI, the environment), so numbers and booleans are accepted in both
spellings. The password is kept out of ``repr`` and out of every message. Each orchestrator
turns its own configuration (an Airflow ``Connection``, a Dagster resource) into a mapping of
:data:`FIELDS` and calls :meth:`WorkspaceSettings.from_mapping`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from asp_core.errors import AspConnectionConfigError

log = logging.getLogger(__name__)

DEFAULT_PORT = 27017
#: Every command gets a bounded wait for its reply unless the settings say otherwise.
DEFAULT_SOCKET_TIMEOUT_MS = 60_000
#: The optional fields beside host, port, username and password (an Airflow connection's extras).
OPTIONAL_FIELDS = (
    "tls_ca_file",
    "tls_certificate_key_file",
    "auth_mechanism",
    "auth_source",
    "app_name",
    "connect_timeout_ms",
    "server_selection_timeout_ms",
    "socket_timeout_ms",
    "tls_allow_invalid_certificates",
    "project_id",
    "workspace_name",
)
FIELDS = ("host", "port", "username", "password", *OPTIONAL_FIELDS)
#: pymongo's URI option names of the fields (a URI may use either spelling).
_URI_OPTIONS = {
    "tlscafile": "tls_ca_file",
    "tlscertificatekeyfile": "tls_certificate_key_file",
    "authmechanism": "auth_mechanism",
    "authsource": "auth_source",
    "appname": "app_name",
    "connecttimeoutms": "connect_timeout_ms",
    "serverselectiontimeoutms": "server_selection_timeout_ms",
    "sockettimeoutms": "socket_timeout_ms",
    "tlsallowinvalidcertificates": "tls_allow_invalid_certificates",
}
_URI_IGNORED = {"tls", "ssl", "directconnection"}
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}
_X509 = "MONGODB-X509"


def _flag(source: str, key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if value is not None else ""
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise AspConnectionConfigError(source, f"{key!r} must be true or false, not {value!r}.")


def _millis(source: str, key: str, value: Any) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not str(value).strip().isdigit() or int(value) < 1:
        raise AspConnectionConfigError(
            source, f"{key!r} must be a positive number of milliseconds, not {value!r}."
        )
    return int(value)


def _port(source: str, value: Any) -> int:
    if value is None or value == "" or value == 0:
        return DEFAULT_PORT
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or not 0 < int(text) < 65536:
        raise AspConnectionConfigError(source, f"the port must be 1-65535, not {value!r}.")
    return int(text)


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


@dataclasses.dataclass(frozen=True)
class WorkspaceSettings:
    """Where the workspace is and how to reach it.

    ``source`` names where the settings came from (an Airflow connection id, a Dagster
    resource), for messages and pool keys.
    """

    source: str
    host: str
    port: int = DEFAULT_PORT
    username: str | None = None
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
    def from_mapping(cls, fields: Mapping[str, Any], *, source: str) -> WorkspaceSettings:
        """Check ``fields`` (names of :data:`FIELDS`) and build the settings.

        Unknown names are logged and ignored; a missing host, a host with a scheme or path,
        a bad number or flag, or X.509 without a certificate file is an
        :class:`~asp_core.errors.AspConnectionConfigError`.
        """
        unknown = sorted(str(key) for key in fields if key not in FIELDS)
        if unknown:
            log.warning(
                "Connection %r: ignoring unknown field(s) %s; known fields: %s.",
                source,
                ", ".join(unknown),
                ", ".join(OPTIONAL_FIELDS),
            )
        host = _text(fields.get("host"))
        if host is None:
            raise AspConnectionConfigError(
                source, "it has no host: set it to the workspace hostname."
            )
        if "://" in host or "/" in host or "@" in host:
            raise AspConnectionConfigError(
                source,
                "the host must be the workspace hostname only (no scheme, path or credentials).",
            )
        mechanism = _text(fields.get("auth_mechanism"))
        key_file = _text(fields.get("tls_certificate_key_file"))
        if mechanism is not None and mechanism.upper() == _X509 and key_file is None:
            raise AspConnectionConfigError(source, f"{_X509} needs 'tls_certificate_key_file'.")
        socket_timeout = _millis(source, "socket_timeout_ms", fields.get("socket_timeout_ms"))
        return cls(
            source=source,
            host=host,
            port=_port(source, fields.get("port")),
            username=_text(fields.get("username")),
            password=fields.get("password") or None,
            tls_ca_file=_text(fields.get("tls_ca_file")),
            tls_certificate_key_file=key_file,
            auth_mechanism=mechanism,
            auth_source=_text(fields.get("auth_source")) or "admin",
            app_name=_text(fields.get("app_name")),
            connect_timeout_ms=_millis(
                source, "connect_timeout_ms", fields.get("connect_timeout_ms")
            ),
            server_selection_timeout_ms=_millis(
                source, "server_selection_timeout_ms", fields.get("server_selection_timeout_ms")
            ),
            socket_timeout_ms=socket_timeout or DEFAULT_SOCKET_TIMEOUT_MS,
            tls_allow_invalid_certificates=_flag(
                source,
                "tls_allow_invalid_certificates",
                fields.get("tls_allow_invalid_certificates", False),
            ),
            project_id=_text(fields.get("project_id")),
            workspace_name=_text(fields.get("workspace_name")),
        )

    @classmethod
    def from_uri(cls, uri: str, *, source: str = "uri") -> WorkspaceSettings:
        """Settings from ``mongodb://user:password@host:port/?option=value`` (or ``asp://``).

        Options take the field names (``tls_ca_file``) or pymongo's (``tlsCAFile``); the user
        and password are URL-decoded. ``mongodb+srv://`` is refused: workspaces are single hosts.
        """
        parts = urlsplit(uri.strip())
        if parts.scheme not in ("mongodb", "asp"):
            raise AspConnectionConfigError(
                source, "the URI must start with mongodb:// (workspaces are single hosts)."
            )
        try:
            port = parts.port
        except ValueError as exc:
            raise AspConnectionConfigError(source, "the URI's port is not a number.") from exc
        fields: dict[str, Any] = {
            "host": parts.hostname,
            "port": port,
            "username": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password else None,
        }
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key.lower() in _URI_IGNORED:
                continue
            fields[_URI_OPTIONS.get(key.lower(), key)] = value
        return cls.from_mapping(fields, source=source)

    @classmethod
    def from_env(
        cls, prefix: str = "ASP_", environ: Mapping[str, str] | None = None
    ) -> WorkspaceSettings:
        """Settings from ``{prefix}URI``, or from ``{prefix}HOST``, ``{prefix}PORT``,
        ``{prefix}USERNAME``, ``{prefix}PASSWORD`` and ``{prefix}<FIELD>`` for the rest
        (``ASP_TLS_CA_FILE``); with a URI, the separate variables override its parts."""
        env = os.environ if environ is None else environ
        source = f"{prefix}*"
        given = {
            name: env[f"{prefix}{name.upper()}"]
            for name in FIELDS
            if f"{prefix}{name.upper()}" in env
        }
        uri = env.get(f"{prefix}URI")
        if uri:
            base = cls.from_uri(uri, source=source)
            merged = {name: getattr(base, name) for name in FIELDS}
            return cls.from_mapping({**merged, **given}, source=source)
        return cls.from_mapping(given, source=source)

    @property
    def address(self) -> str:
        """``host:port``, for messages."""
        return f"{self.host}:{self.port}"

    @property
    def where(self) -> str:
        """Which connection and host, for messages: ``connection 'asp_default', host
        127.0.0.1:27017``."""
        return f"connection {self.source!r}, host {self.address}"

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
            "username": self.username,
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
