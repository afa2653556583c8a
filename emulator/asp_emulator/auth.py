"""Users, roles and authentication as on Atlas: SCRAM against ``admin``, X.509 in ``$external``.

- SCRAM-SHA-256 and SCRAM-SHA-1, server side by ``scramp``. MongoDB's SCRAM differs from
  RFC 5802 in one place: SCRAM-SHA-1 hashes the password as ``md5("<user>:mongo:<password>")``
  first. Atlas database users live in ``admin``: a conversation on any other database fails.
- MONGODB-X509: the user is the verified client certificate's subject (RFC 2253), declared
  in ``$external``.
- No user enumeration: ``saslSupportedMechs`` lists the same mechanisms for every name, an
  unknown user gets a salt as stable as a real one, and every failure reads the same.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bson.binary import Binary
from scramp import ScramException, ScramMechanism

from asp_emulator.errors import AUTHENTICATION_FAILED, CommandError
from asp_emulator.tls import normalize_subject

ATLAS_ADMIN = "atlasAdmin"
MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-1")
X509 = "MONGODB-X509"
SCRAM_DATABASE = "admin"
X509_DATABASE = "$external"
# pymongo refuses fewer than 4096 iterations; more only slows every connection down.
ITERATIONS = 4096
FAILED = "Authentication failed."

UserSpec = str | tuple[str, Sequence[str]]


@dataclass(frozen=True)
class User:
    """A database user of the workspace: SCRAM (``admin``) or X.509 (``$external``)."""

    name: str
    password: str | None = field(default=None, repr=False)
    roles: tuple[str, ...] = (ATLAS_ADMIN,)
    database: str = SCRAM_DATABASE


def parse_users(users: Mapping[str, UserSpec]) -> dict[str, User]:
    """``{name: password}`` or ``{name: (password, [roles])}`` to SCRAM users."""
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


def parse_x509_users(users: Mapping[str, Sequence[str]] | Iterable[str]) -> dict[str, User]:
    """``{subject: [roles]}`` (or subjects, with ``atlasAdmin``) to X.509 users, by subject
    as the server spells it."""
    items = users.items() if isinstance(users, Mapping) else ((s, (ATLAS_ADMIN,)) for s in users)
    parsed = {}
    for subject, roles in items:
        if isinstance(roles, str):
            raise ValueError(f"the roles of {subject!r} must be a list of role names")
        name = normalize_subject(subject)
        parsed[name] = User(name, None, tuple(roles), X509_DATABASE)
    return parsed


def _mechanism_password(mechanism: str, user: str, password: str) -> str:
    if mechanism == "SCRAM-SHA-1":
        return hashlib.md5(f"{user}:mongo:{password}".encode()).hexdigest()
    return password


@dataclass
class Authenticator:
    """The users, their precomputed SCRAM credentials, and the conversations in flight."""

    users: dict[str, User]
    x509_users: dict[str, User] = field(default_factory=dict)
    _mechanisms: dict[str, ScramMechanism] = field(default_factory=dict)
    _auth_info: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    def __post_init__(self) -> None:
        for mechanism in MECHANISMS:
            self._mechanisms[mechanism] = ScramMechanism(mechanism)
            for user in self.users.values():
                assert user.password is not None
                secret = _mechanism_password(mechanism, user.name, user.password)
                self._auth_info[(mechanism, user.name)] = tuple(
                    self._mechanisms[mechanism].make_auth_info(secret, iteration_count=ITERATIONS)
                )

    def supported_mechanisms(self, namespaced_user: str) -> list[str]:
        """Answer to ``saslSupportedMechs: "<db>.<user>"``: the same for every name."""
        return list(MECHANISMS)

    def start(
        self, command: Mapping[str, Any], database: str
    ) -> tuple[Conversation, dict[str, Any]]:
        """Handle ``saslStart`` on ``database``: returns the conversation and the reply."""
        mechanism = command.get("mechanism")
        if mechanism not in self._mechanisms:
            raise CommandError(
                2, f"Received authentication for mechanism {mechanism} which is not enabled"
            )
        conversation = Conversation(self, str(mechanism), next(self._ids), database)
        payload = conversation.first(bytes(command.get("payload", b"")))
        return conversation, {
            "conversationId": conversation.id,
            "done": False,
            "payload": Binary(payload),
            "ok": 1.0,
        }

    def auth_info(self, mechanism: str, user: str, database: str) -> tuple[Any, ...]:
        """The stored credentials; for an unknown user (or a database other than ``admin``)
        credentials derived from the name, as stable as a real user's, that match no password."""
        info = self._auth_info.get((mechanism, user)) if database == SCRAM_DATABASE else None
        if info is not None:
            return info
        key_digest = hashlib.sha256 if mechanism == "SCRAM-SHA-256" else hashlib.sha1

        def derived(purpose: str, digest: Any = key_digest) -> bytes:
            message = f"{purpose}\x00{mechanism}\x00{database}\x00{user}".encode()
            return hmac.new(self._secret, message, digest).digest()

        # the same sizes as scramp's: a 32-byte salt, keys of the mechanism's digest size
        salt = derived("salt", hashlib.sha256)
        return (salt, derived("stored"), derived("server"), ITERATIONS)

    def user(self, name: str | None, database: str) -> User | None:
        """The SCRAM user ``name`` if it authenticates on ``database``."""
        if database != SCRAM_DATABASE or name is None:
            return None
        return self.users.get(name)

    def x509(self, subject: str | None, claimed: Any) -> User:
        """The X.509 user of a connection whose verified certificate has ``subject``."""
        if subject is None:
            raise CommandError(
                AUTHENTICATION_FAILED, "No verified subject name available from client"
            )
        if claimed is not None and claimed != subject:
            raise CommandError(
                AUTHENTICATION_FAILED, "There is no x.509 client certificate matching the user."
            )
        user = self.x509_users.get(subject)
        if user is None:
            raise CommandError(AUTHENTICATION_FAILED, FAILED)
        return user


class Conversation:
    """One SCRAM conversation of one connection."""

    def __init__(
        self, authenticator: Authenticator, mechanism: str, conversation_id: int, database: str
    ) -> None:
        self.authenticator = authenticator
        self.mechanism = mechanism
        self.id = conversation_id
        self.database = database
        self.user_name: str | None = None
        self.user: User | None = None
        self._server = authenticator._mechanisms[mechanism].make_server(self._lookup)

    def _lookup(self, username: str) -> tuple[Any, ...]:
        self.user_name = username
        return self.authenticator.auth_info(self.mechanism, username, self.database)

    @property
    def done(self) -> bool:
        """Whether the conversation succeeded."""
        return self.user is not None

    def first(self, client_first: bytes) -> bytes:
        """client-first-message in, server-first-message out."""
        try:
            self._server.set_client_first(client_first.decode())
            return str(self._server.get_server_first()).encode()
        except (ScramException, UnicodeDecodeError) as exc:
            raise CommandError(AUTHENTICATION_FAILED, FAILED) from exc

    def proceed(self, command: Mapping[str, Any]) -> dict[str, Any]:
        """Handle ``saslContinue``."""
        if command.get("conversationId") != self.id:
            raise CommandError(AUTHENTICATION_FAILED, FAILED)
        if self.done:
            return {"conversationId": self.id, "done": True, "payload": Binary(b""), "ok": 1.0}
        try:
            self._server.set_client_final(bytes(command.get("payload", b"")).decode())
            server_final = str(self._server.get_server_final()).encode()
        except (ScramException, UnicodeDecodeError) as exc:
            raise CommandError(AUTHENTICATION_FAILED, FAILED) from exc
        user = self.authenticator.user(self.user_name, self.database)
        if user is None:
            raise CommandError(AUTHENTICATION_FAILED, FAILED)
        self.user = user
        return {"conversationId": self.id, "done": True, "payload": Binary(server_final), "ok": 1.0}
