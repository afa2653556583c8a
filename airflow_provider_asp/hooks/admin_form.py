"""The ``asp_admin`` connection (the Atlas Administration API), its form declared once, and
the connection turned into the settings of :class:`asp_core.admin.AdminClient`.

Login and password hold the credential: a service account's client ID and secret, or an
API key's public and private key (``auth_type``). The secret never leaves
:class:`AdminSettings` except into the client (``repr`` hides it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from asp_core.admin import ATLAS_URL, ApiKey, ServiceAccount
from asp_core.errors import AspConnectionConfigError

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from asp_core.admin.auth import Credential

SERVICE_ACCOUNT = "service_account"
API_KEY = "api_key"
AUTH_TYPES = (SERVICE_ACCOUNT, API_KEY)
DEFAULT_TIMEOUT = 30.0
#: Extras saved by Airflow 2's forms carried this prefix.
_LEGACY_PREFIX = "extra__asp_admin__"

#: Extra fields, stored un-prefixed in the connection's extra.
ADMIN_CONN_FIELDS: dict[str, dict[str, Any]] = {
    "project_id": {
        "label": "Atlas project ID",
        "description": "The project's 24-hex-digit ID (Atlas's groupId).",
        "schema": {"type": ["string", "null"]},
    },
    "auth_type": {
        "label": "Credential type",
        "description": "service_account: login = client ID, password = client secret "
        "(recommended). api_key: login = public key, password = private key.",
        "schema": {"type": ["string", "null"], "enum": [*AUTH_TYPES, None]},
    },
    "base_url": {
        "label": "Admin API base URL",
        "description": f"Leave empty for Atlas ({ATLAS_URL}); the emulator's admin_url.",
        "schema": {"type": ["string", "null"]},
    },
    "tls_ca_file": {
        "label": "TLS CA file",
        "description": "PEM file of the CA to trust instead of the system's (the emulator's).",
        "schema": {"type": ["string", "null"]},
    },
    "timeout": {
        "label": "Request timeout (s)",
        "description": f"Seconds one request may take (default {DEFAULT_TIMEOUT:.0f}).",
        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
    },
}

ADMIN_UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["host", "port", "schema"],
    "relabeling": {
        "login": "Client ID or public key",
        "password": "Client secret or private key",
    },
    "placeholders": {
        "login": "mdb_sa_id_0123456789abcdef01234567",
        "project_id": "0123456789abcdef01234567",
        "auth_type": SERVICE_ACCOUNT,
        "base_url": ATLAS_URL,
        "tls_ca_file": "/etc/ssl/certs/atlas-ca.pem",
    },
}


@dataclasses.dataclass(frozen=True)
class AdminSettings:
    """A checked ``asp_admin`` connection; ``source`` is its connection id."""

    source: str
    project_id: str
    credential: Credential
    base_url: str = ATLAS_URL
    tls_ca_file: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    @property
    def who(self) -> str:
        """The credential, for messages: ``service account 'mdb_sa_id_…'``."""
        if isinstance(self.credential, ServiceAccount):
            return f"service account {self.credential.client_id!r}"
        return f"API key {self.credential.public_key!r}"

    @property
    def where(self) -> str:
        """Which connection, project and URL, for messages."""
        return f"connection {self.source!r}, project {self.project_id} at {self.base_url}"

    @property
    def secret(self) -> str:
        """The client secret or private key (to mask and scrub)."""
        if isinstance(self.credential, ServiceAccount):
            return self.credential.client_secret
        return self.credential.private_key

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``AdminClient`` (and its async twin)."""
        return {
            "project_id": self.project_id,
            "credential": self.credential,
            "base_url": self.base_url,
            "ca_file": self.tls_ca_file,
            "timeout": self.timeout,
        }

    def scrub(self, text: str) -> str:
        """``text`` with the secret replaced by ``***``."""
        return text.replace(self.secret, "***") if self.secret else text


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def admin_settings_from_connection(conn: Connection, extra: Mapping[str, Any]) -> AdminSettings:
    """Check ``conn`` (with its parsed ``extra``) and build the settings."""
    source = conn.conn_id
    fields = {str(key).removeprefix(_LEGACY_PREFIX): value for key, value in extra.items()}
    project_id = _text(fields.get("project_id"))
    if project_id is None:
        raise AspConnectionConfigError(source, "it has no project_id: set the Atlas project ID.")
    auth_type = _text(fields.get("auth_type")) or SERVICE_ACCOUNT
    if auth_type not in AUTH_TYPES:
        raise AspConnectionConfigError(
            source, f"auth_type must be {' or '.join(AUTH_TYPES)}, not {auth_type!r}."
        )
    login, secret = _text(conn.login), conn.password or None
    if login is None or secret is None:
        what = "client ID and secret" if auth_type == SERVICE_ACCOUNT else "public and private key"
        raise AspConnectionConfigError(source, f"set the {what} as login and password.")
    credential: Credential = (
        ServiceAccount(login, secret) if auth_type == SERVICE_ACCOUNT else ApiKey(login, secret)
    )
    base_url = (_text(fields.get("base_url")) or ATLAS_URL).rstrip("/")
    if not base_url.startswith("https://") or "@" in base_url:
        raise AspConnectionConfigError(
            source, "base_url must be an https:// URL without credentials."
        )
    timeout = fields.get("timeout")
    try:
        seconds = DEFAULT_TIMEOUT if timeout in (None, "") else float(timeout)
    except (TypeError, ValueError):
        seconds = -1.0
    if isinstance(timeout, bool) or not seconds > 0:
        raise AspConnectionConfigError(source, f"timeout must be seconds > 0, not {timeout!r}.")
    return AdminSettings(
        source=source,
        project_id=project_id,
        credential=credential,
        base_url=base_url,
        tls_ca_file=_text(fields.get("tls_ca_file")),
        timeout=seconds,
    )
