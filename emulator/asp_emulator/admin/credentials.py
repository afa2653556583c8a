"""Who may call the emulated Admin API: service accounts (Bearer tokens from
``/api/oauth/token``) and API keys (HTTP Digest), each with one project role."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from urllib.request import parse_http_list, parse_keqv_list

#: Atlas's project roles this emulator knows, and whether each may write.
ROLES = {"GROUP_OWNER": True, "GROUP_STREAM_PROCESSING_OWNER": True, "GROUP_READ_ONLY": False}
REALM = "MMS Public API"
#: Digest nonces kept (the newest): every unauthenticated request gets one, so they are bounded.
MAX_NONCES = 4096


def check_role(role: str) -> str:
    """``role`` when it is one of :data:`ROLES`; else ValueError."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {sorted(ROLES)}, not {role!r}")
    return role


@dataclass
class Credential:
    """A service account (``kind="sa"``) or an API key (``kind="key"``)."""

    kind: str
    id: str
    secret: str = field(repr=False)
    role: str


class Credentials:
    """Credentials and the tokens issued to service accounts (used in the loop's thread)."""

    def __init__(self, token_ttl: float) -> None:
        self.token_ttl = token_ttl
        self._by_id: dict[str, Credential] = {}
        self._tokens: dict[str, tuple[str, float]] = {}  # token -> (client id, expiry)
        self._nonces: OrderedDict[str, None] = OrderedDict()
        self.tokens_issued = 0

    def new(self, kind: str, role: str) -> Credential:
        """A new credential with ``role``."""
        check_role(role)
        if kind == "sa":
            cred = Credential(
                kind,
                f"mdb_sa_id_{secrets.token_hex(12)}",
                f"mdb_sa_sk_{secrets.token_hex(20)}",
                role,
            )
        else:
            cred = Credential(kind, secrets.token_hex(4), secrets.token_hex(18), role)
        self._by_id[cred.id] = cred
        return cred

    # -- service accounts ---------------------------------------------------------------------
    def issue_token(self, client_id: str, client_secret: str) -> str | None:
        """A new Bearer token for a service account, or None for a wrong client or secret."""
        cred = self._by_id.get(client_id)
        if (
            cred is None
            or cred.kind != "sa"
            or not secrets.compare_digest(cred.secret, client_secret)
        ):
            return None
        token = secrets.token_urlsafe(32)
        self._tokens[token] = (client_id, time.monotonic() + self.token_ttl)
        self.tokens_issued += 1
        return token

    def bearer(self, token: str) -> Credential | None:
        """The service account of an unexpired token."""
        found = self._tokens.get(token)
        if found is None or time.monotonic() >= found[1]:
            return None
        return self._by_id.get(found[0])

    def expire_tokens(self) -> None:
        """Make every token issued so far expire now (the next use gets a 401)."""
        self._tokens = {token: (cid, 0.0) for token, (cid, _) in self._tokens.items()}

    # -- API keys (RFC 7616 Digest, MD5, qop=auth, as Atlas) ----------------------------------
    def challenge(self) -> str:
        """A ``WWW-Authenticate`` value with a fresh nonce."""
        nonce = secrets.token_hex(16)
        self._nonces[nonce] = None
        while len(self._nonces) > MAX_NONCES:
            self._nonces.popitem(last=False)  # a client holding it gets a new challenge
        return f'Digest realm="{REALM}", qop="auth", nonce="{nonce}", algorithm=MD5'

    def digest(self, method: str, uri: str, header: str) -> Credential | None:
        """The API key whose Digest ``Authorization`` (``header`` without the scheme) is
        right for ``method`` on ``uri``; None otherwise (a malformed header too)."""
        try:
            fields = parse_keqv_list(parse_http_list(header))
        except ValueError:  # an element without '='
            return None
        cred = self._by_id.get(fields.get("username", ""))
        nonce = fields.get("nonce", "")
        if cred is None or cred.kind != "key" or nonce not in self._nonces:
            return None
        if fields.get("uri") != uri or fields.get("realm") != REALM:
            return None
        ha1 = _md5(f"{cred.id}:{REALM}:{cred.secret}")
        ha2 = _md5(f"{method}:{uri}")
        qop = fields.get("qop")
        if qop == "auth":
            expected = _md5(f"{ha1}:{nonce}:{fields.get('nc')}:{fields.get('cnonce')}:auth:{ha2}")
        else:
            expected = _md5(f"{ha1}:{nonce}:{ha2}")
        if not secrets.compare_digest(expected, fields.get("response", "")):
            return None
        return cred


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
