"""Credentials of the Admin API: service accounts (OAuth 2.0 client credentials, the
recommended method) and API keys (HTTP Digest).

A service account's Bearer token is shared by every client of the process that uses the
same credential and token URL: fetched once, reused until :data:`REFRESH_MARGIN` seconds
before it expires, fetched again by one thread while the others wait.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

#: Seconds before its expiry a token is no longer used.
REFRESH_MARGIN = 60.0
TOKEN_PATH = "/api/oauth/token"


@dataclass(frozen=True)
class ServiceAccount:
    """A service account's client ID and secret (the secret is never shown by ``repr``)."""

    client_id: str
    client_secret: str = field(repr=False)


@dataclass(frozen=True)
class ApiKey:
    """A programmatic API key: public and private key (Digest; the private key is never
    shown by ``repr``)."""

    public_key: str
    private_key: str = field(repr=False)

    def httpx_auth(self) -> httpx.Auth:
        """The Digest auth httpx applies to each request."""
        return httpx.DigestAuth(self.public_key, self.private_key)


Credential = ServiceAccount | ApiKey


@dataclass
class _Token:
    value: str
    expires_at: float  # time.monotonic()


class TokenCache:
    """Bearer tokens by (token URL, client ID, secret digest); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str, str], _Token] = {}
        self._fetching: dict[tuple[str, str, str], threading.Lock] = {}

    @staticmethod
    def key(token_url: str, account: ServiceAccount) -> tuple[str, str, str]:
        digest = hashlib.sha256(account.client_secret.encode()).hexdigest()
        return (token_url, account.client_id, digest)

    def get(
        self,
        token_url: str,
        account: ServiceAccount,
        fetch: Callable[[], tuple[str, float]],
        *,
        stale: str | None = None,
    ) -> str:
        """A valid token; ``fetch()`` returns ``(token, expires_in)`` when one is needed.
        ``stale``: a token the server refused (401), not to be returned again."""
        key = self.key(token_url, account)
        with self._lock:
            lock = self._fetching.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                token = self._tokens.get(key)
            if token is not None and token.value != stale and time.monotonic() < token.expires_at:
                return token.value
            value, expires_in = fetch()
            margin = min(REFRESH_MARGIN, expires_in / 2)
            with self._lock:
                self._tokens[key] = _Token(value, time.monotonic() + expires_in - margin)
            return value

    def clear(self) -> None:
        """Forget every token (tests; a process that rotated its secrets)."""
        with self._lock:
            self._tokens.clear()


#: The process's tokens.
TOKENS = TokenCache()
