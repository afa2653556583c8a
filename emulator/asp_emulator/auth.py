"""Users, roles and the server side of SCRAM-SHA-256 / SCRAM-SHA-1 (via ``scramp``).

MongoDB's SCRAM differs from RFC 5802 in one place: SCRAM-SHA-1 hashes the password
as ``md5("<user>:mongo:<password>")`` first. SCRAM-SHA-256 uses the SASLprep'd password.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bson.binary import Binary
from scramp import ScramException, ScramMechanism

from asp_emulator.errors import AUTHENTICATION_FAILED, CommandError

ATLAS_ADMIN = "atlasAdmin"
MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-1")
# pymongo refuses fewer than 4096 iterations; more only slows every connection down.
ITERATIONS = 4096

UserSpec = str | tuple[str, Sequence[str]]


@dataclass(frozen=True)
class User:
    """A database user of the workspace."""

    name: str
    password: str
    roles: tuple[str, ...] = (ATLAS_ADMIN,)


def parse_users(users: Mapping[str, UserSpec]) -> dict[str, User]:
    """``{name: password}`` or ``{name: (password, [roles])}`` to ``User`` objects."""
    parsed = {}
    for name, spec in users.items():
        if not name:
            raise ValueError("user names must not be empty")
        if isinstance(spec, str):
            parsed[name] = User(name, spec)
        else:
            password, roles = spec
            parsed[name] = User(name, password, tuple(roles))
    return parsed


def _mechanism_password(mechanism: str, user: str, password: str) -> str:
    if mechanism == "SCRAM-SHA-1":
        return hashlib.md5(f"{user}:mongo:{password}".encode()).hexdigest()
    return password


@dataclass
class Authenticator:
    """Precomputed SCRAM credentials for every user, and the conversations in flight."""

    users: dict[str, User]
    _mechanisms: dict[str, ScramMechanism] = field(default_factory=dict)
    _auth_info: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        for mechanism in MECHANISMS:
            self._mechanisms[mechanism] = ScramMechanism(mechanism)
            for user in self.users.values():
                self._auth_info[(mechanism, user.name)] = self._make_auth_info(
                    mechanism, user.name, user.password
                )

    def _make_auth_info(self, mechanism: str, user: str, password: str) -> tuple[Any, ...]:
        secret = _mechanism_password(mechanism, user, password)
        return tuple(self._mechanisms[mechanism].make_auth_info(secret, iteration_count=ITERATIONS))

    def supported_mechanisms(self, namespaced_user: str) -> list[str]:
        """Answer to ``saslSupportedMechs: "<db>.<user>"``."""
        _, _, user = namespaced_user.partition(".")
        return list(MECHANISMS) if user in self.users else []

    def start(self, command: Mapping[str, Any]) -> tuple[Conversation, dict[str, Any]]:
        """Handle ``saslStart``: returns the conversation and the reply."""
        mechanism = command.get("mechanism")
        if mechanism not in self._mechanisms:
            raise CommandError(
                2, f"Received authentication for mechanism {mechanism} which is not enabled"
            )
        conversation = Conversation(self, str(mechanism), next(self._ids))
        payload = conversation.first(bytes(command.get("payload", b"")))
        return conversation, {
            "conversationId": conversation.id,
            "done": False,
            "payload": Binary(payload),
            "ok": 1.0,
        }

    def auth_info(self, mechanism: str, user: str) -> tuple[Any, ...]:
        """The stored credentials, or throw-away ones for an unknown user (no user enumeration)."""
        info = self._auth_info.get((mechanism, user))
        if info is None:
            info = self._make_auth_info(mechanism, user, secrets.token_hex(16))
        return info


class Conversation:
    """One SCRAM conversation of one connection."""

    def __init__(self, authenticator: Authenticator, mechanism: str, conversation_id: int):
        self.authenticator = authenticator
        self.mechanism = mechanism
        self.id = conversation_id
        self.user: str | None = None
        self.done = False
        self._server = authenticator._mechanisms[mechanism].make_server(self._lookup)

    def _lookup(self, username: str) -> tuple[Any, ...]:
        self.user = username
        return self.authenticator.auth_info(self.mechanism, username)

    def first(self, client_first: bytes) -> bytes:
        """client-first-message in, server-first-message out."""
        try:
            self._server.set_client_first(client_first.decode())
            return str(self._server.get_server_first()).encode()
        except (ScramException, UnicodeDecodeError) as exc:
            raise CommandError(AUTHENTICATION_FAILED, "Authentication failed.") from exc

    def proceed(self, command: Mapping[str, Any]) -> dict[str, Any]:
        """Handle ``saslContinue``."""
        if command.get("conversationId") != self.id:
            raise CommandError(AUTHENTICATION_FAILED, "Authentication failed.")
        if self.done:
            return {"conversationId": self.id, "done": True, "payload": Binary(b""), "ok": 1.0}
        try:
            self._server.set_client_final(bytes(command.get("payload", b"")).decode())
            server_final = str(self._server.get_server_final()).encode()
        except (ScramException, UnicodeDecodeError) as exc:
            raise CommandError(AUTHENTICATION_FAILED, "Authentication failed.") from exc
        if self.user not in self.authenticator.users:
            raise CommandError(AUTHENTICATION_FAILED, "Authentication failed.")
        self.done = True
        return {"conversationId": self.id, "done": True, "payload": Binary(server_final), "ok": 1.0}
