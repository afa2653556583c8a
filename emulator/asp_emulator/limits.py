"""The emulator's limits: what one client or one document may cost the workspace.

Every limit has a documented default (``Limits()``) that ordinary clients never reach;
tests of the limits themselves pass smaller values. ``asp-emulator serve`` has one flag per
field (``--max-connections`` for ``max_connections``), with the same help text.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


def _limit(default: float, help: str) -> Any:
    return dataclasses.field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Limits:
    """Bounds on connections (before and after authentication) and on processing work."""

    # -- connections (like MongoDB's net.maxIncomingConnections) ------------------------
    max_connections: int = _limit(
        1_000,
        "open client connections; more are closed at accept, before TLS, with one log line",
    )
    max_unauthenticated_message_bytes: int = _limit(
        16 * 1024,
        "largest message before authentication (handshakes and SASL steps are < 1 KiB)",
    )
    message_timeout: float = _limit(
        30.0, "seconds for the rest of a message to arrive once its header has"
    )
    auth_timeout: float = _limit(
        30.0,
        "seconds from the first authentication step (speculative, saslStart or authenticate) "
        "to success; a connection that has not succeeded by then is closed",
    )
    unauthenticated_idle_timeout: float = _limit(
        120.0,
        "seconds an unauthenticated connection may stay silent (pymongo's monitors send "
        "hello every 10 s and never authenticate)",
    )
    idle_timeout: float = _limit(3_600.0, "seconds an authenticated connection may stay silent")
    tls_handshake_timeout: float = _limit(10.0, "seconds for the TLS handshake")

    max_message_bytes: int = _limit(
        48_000_000,
        "largest message either way (MongoDB's maxMessageSizeBytes, advertised in hello): "
        "a request announcing more closes the connection; a reply that would be longer is "
        "refused with code 10334 (BSONObjectTooLarge) and the connection stays open",
    )

    # -- documents and processing -------------------------------------------------------
    max_definition_bytes: int = _limit(
        16 * 1024 * 1024 - 64 * 1024,
        "heaviest processor definition (name, pipeline and options, as BSON): MongoDB's "
        "16 MiB document limit less 64 KiB for the fields a reply adds; heavier is refused "
        "at create and modify with code 10334 (BSONObjectTooLarge)",
    )
    max_nesting_depth: int = _limit(
        100,
        "deepest nesting of documents and arrays in a command (MongoDB stores at most 100); "
        "deeper is refused with code 15 (Overflow)",
    )
    max_windows_per_document: int = _limit(
        1_000,
        "windows one document may be in (a hopping window's interval / hopSize); more is "
        "refused at create with code 9 (FailedToParse)",
    )
    max_open_windows: int = _limit(
        10_000, "open windows per processor; beyond, the processor FAILS (out of memory, 146)"
    )
    max_buffered_documents: int = _limit(
        100_000,
        "documents held in a processor's open windows (once per window); beyond, the "
        "processor FAILS (out of memory, 146)",
    )
    max_documents_per_input: int = _limit(
        10_000,
        "documents one input may turn into ($unwind of a long array); beyond, the input "
        "goes to the dead letter queue",
    )
    slice_seconds: float = _limit(
        0.002, "processing time between two looks at the network (commands wait at most that)"
    )

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            kind = (int,) if item.type in (int, "int") else (int, float)
            if isinstance(value, bool) or not isinstance(value, kind) or value <= 0:
                what = "integer" if kind == (int,) else "number"
                raise ValueError(f"Limits.{item.name} must be a positive {what}, not {value!r}")


DEFAULT_LIMITS = Limits()
