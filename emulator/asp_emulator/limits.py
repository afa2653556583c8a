"""The emulator's limits: what one client or one document may cost the workspace.

Every limit has a documented default (``Limits()``) that ordinary clients never reach;
tests of the limits themselves pass smaller values. The CLI has one flag per field.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Bounds on connections (before and after authentication) and on processing work."""

    # -- connections (like MongoDB's net.maxIncomingConnections) ------------------------
    max_connections: int = 1_000
    """Open client connections; more are closed at accept, before TLS, with one log line."""
    max_unauthenticated_message_bytes: int = 16 * 1024
    """Largest message before authentication (handshakes and SASL steps are < 1 KiB)."""
    message_timeout: float = 30.0
    """Seconds for the rest of a message to arrive once its header has."""
    auth_timeout: float = 30.0
    """Seconds from the first authentication step (speculative, ``saslStart`` or
    ``authenticate``) to success; a connection that has not succeeded by then is closed."""
    unauthenticated_idle_timeout: float = 120.0
    """Seconds an unauthenticated connection may stay silent (pymongo's monitors send
    ``hello`` every 10 s and never authenticate)."""
    idle_timeout: float = 3_600.0
    """Seconds an authenticated connection may stay silent."""
    tls_handshake_timeout: float = 10.0
    """Seconds for the TLS handshake."""

    # -- documents and processing -------------------------------------------------------
    max_nesting_depth: int = 100
    """Deepest nesting of documents and arrays in a command (MongoDB stores at most 100)."""
    max_windows_per_document: int = 1_000
    """Windows one document may open: a hopping window's ``interval / hopSize``."""
    max_open_windows: int = 10_000
    """Open windows per processor; beyond, the processor FAILS (out of memory)."""
    max_buffered_documents: int = 100_000
    """Documents held in a processor's open windows (one per window it is in); beyond,
    the processor FAILS (out of memory)."""
    max_documents_per_input: int = 10_000
    """Documents one input may turn into (``$unwind`` of a long array); beyond, the input
    goes to the dead letter queue."""
    slice_seconds: float = 0.002
    """Processing time between two looks at the network (commands never wait longer)."""

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"Limits.{item.name} must be a positive number, not {value!r}")

    def replace(self, **changes: float) -> Limits:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


DEFAULT_LIMITS = Limits()
