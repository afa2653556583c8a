"""What went wrong when reaching a workspace, in one plain sentence without secrets.

The same words for every orchestrator: the Airflow hook and the Dagster resource both call
:func:`describe_failure` and :func:`connection_error`; triggers log
:func:`connection_message`.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from typing import TYPE_CHECKING

from asp_core.errors import AspConnectionConfigError, AspConnectionError, AspTlsError
from asp_core.waiting.states import normalize_state

if TYPE_CHECKING:
    from asp_core.settings import WorkspaceSettings
    from asp_core.stream_processing import StreamProcessorInfo

_TLS_MARKERS = ("certificate", "ssl", "tls handshake")


def _first_line(text: str) -> str:
    """pymongo's error without the timeouts and topology dump it appends."""
    return text.split(" (configured timeouts")[0].split(", Timeout:")[0]


def describe_failure(exc: BaseException, settings: WorkspaceSettings) -> str:
    """One sentence saying what went wrong (authentication, TLS, reachability, time, a
    refusal or the settings), naming the command, the host, the configured timeouts and the
    underlying reason: its class, code, code name and labels, never an empty text. The
    password never appears (callers also :meth:`WorkspaceSettings.scrub` the result)."""
    from pymongo.errors import (
        ConfigurationError,
        ConnectionFailure,
        NetworkTimeout,
        OperationFailure,
        ServerSelectionTimeoutError,
    )

    from asp_core.stream_processing.protocol import failed_command
    from asp_core.waiting.verdict import describe_error

    where = settings.address
    command = failed_command(exc)
    doing = f" ({command})" if command else ""
    reason = describe_error(exc)
    timeouts = ", ".join(f"{k} {v} ms" for k, v in settings.timeouts_ms.items() if v)
    if isinstance(exc, OperationFailure) and exc.code == 18 and settings.uses_x509:
        return (
            f"Authentication failed at {where} for the client certificate "
            f"{settings.tls_certificate_key_file!r}: its subject must be a user of the "
            "workspace in '$external' (MONGODB-X509), and the certificate signed by a CA the "
            "workspace trusts."
        )
    if isinstance(exc, OperationFailure) and exc.code == 18:
        return (
            f"Authentication failed for user {settings.username!r} at {where}: check the "
            f"login, the password and the auth source ({settings.auth_source!r})."
        )
    if isinstance(exc, OperationFailure) and exc.code == 13:
        return f"Connected to {where}, but the user is not allowed to run this{doing}: {reason}"
    timed_out = isinstance(exc, NetworkTimeout) or getattr(exc, "timeout", False) is True
    if timed_out and not isinstance(exc, ServerSelectionTimeoutError):
        return (
            f"The workspace at {where} did not answer in time{doing} "
            f"(configured: {timeouts or 'pymongo defaults'}; or the task's own deadline): "
            f"{reason}"
        )
    if isinstance(exc, OperationFailure):
        return f"The workspace at {where} refused the command{doing}: {reason}"
    if isinstance(exc, ConnectionFailure):
        if any(marker in str(exc).lower() for marker in _TLS_MARKERS):
            return f"TLS with {where} failed (is the CA file right?){doing}: {reason}"
        return (
            f"Cannot reach the workspace at {where}{doing} "
            f"({timeouts or 'pymongo defaults'}): {reason}"
        )
    if isinstance(exc, (ConfigurationError, OSError, AspConnectionConfigError)):
        return f"Invalid connection settings: {_first_line(str(exc)) or reason}"
    return reason


def is_connection_problem(exc: BaseException) -> bool:
    """Whether ``exc`` is about reaching or logging in to the workspace (not a command)."""
    from pymongo.errors import ConnectionFailure, OperationFailure

    if isinstance(exc, OperationFailure):
        return exc.code in (13, 18)
    return isinstance(exc, ConnectionFailure)


def connection_message(exc: BaseException, settings: WorkspaceSettings) -> str | None:
    """For a failure to reach or log in to the workspace, what went wrong with which
    connection, in plain words and without secrets; None for anything else."""
    if not is_connection_problem(exc):
        return None
    return settings.scrub(f"Connection {settings.source!r}: {describe_failure(exc, settings)}")


def connection_error(exc: BaseException, settings: WorkspaceSettings) -> AspConnectionError | None:
    """For a failure to reach or log in to the workspace, an error saying which
    (:func:`connection_message`): :class:`AspTlsError` (no retry fixes it) for a certificate
    that fails verification; None for anything else."""
    from asp_core.stream_processing.protocol import is_certificate_failure

    message = connection_message(exc, settings)
    if message is None:
        return None
    return AspTlsError(message) if is_certificate_failure(exc) else AspConnectionError(message)


def connection_summary(
    settings: WorkspaceSettings, processors: Sequence[StreamProcessorInfo]
) -> str:
    """What a successful connection test reports: where, as whom, how many processors."""
    states = collections.Counter(normalize_state(p.state) for p in processors)
    detail = ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
    user = f" as {settings.username!r}" if settings.username else ""
    return (
        f"Connected to the workspace at {settings.address}{user}: "
        f"{len(processors)} stream processor(s){f' ({detail})' if detail else ''}."
    )
