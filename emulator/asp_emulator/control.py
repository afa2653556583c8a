"""The emulator's own control commands: never commands Atlas has, and named so.

``aspEmulatorFailProcessor`` makes a running processor FAIL, as
:meth:`Workspace.fail_processor` does, from another process (``asp-emulator fail``). Like
the ASP commands it needs an authenticated ``atlasAdmin`` user, on ``admin``::

    {"aspEmulatorFailProcessor": "<name>", "message": "<errorMsg>", "code": 125,
     "retryable": false, "afterDocuments": <n, optional>}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

from asp_emulator.errors import FAILED_TO_PARSE, CommandError
from asp_emulator.protocol import processor_name

FAIL_PROCESSOR = "aspEmulatorFailProcessor"
#: The prefix of every emulator-only command (Atlas has none of these names).
PREFIX = "aspEmulator"
DEFAULT_FAILURE_CODE = 125


@dataclass(frozen=True)
class FailProcessor:
    """``aspEmulatorFailProcessor``: who fails, with which errorMsg, errorCode, errorRetryable."""

    name: str
    message: str
    code: int = DEFAULT_FAILURE_CODE
    retryable: bool = False
    after_documents: int | None = None


def _integer(command: Mapping[str, Any], key: str, minimum: int) -> int | None:
    value = command.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise CommandError(
            FAILED_TO_PARSE, f"{FAIL_PROCESSOR}: {key} must be an integer >= {minimum}"
        )
    return value


def parse_fail_processor(command: Mapping[str, Any]) -> FailProcessor:
    """The command document to a :class:`FailProcessor`."""
    name = processor_name(command)
    message = command.get("message")
    if not isinstance(message, str) or not message.strip():
        raise CommandError(FAILED_TO_PARSE, f"{FAIL_PROCESSOR}: message must be a non-empty string")
    retryable = command.get("retryable", False)
    if not isinstance(retryable, bool):
        raise CommandError(FAILED_TO_PARSE, f"{FAIL_PROCESSOR}: retryable must be a boolean")
    code = _integer(command, "code", 1)
    return FailProcessor(
        name,
        message,
        DEFAULT_FAILURE_CODE if code is None else code,
        retryable,
        _integer(command, "afterDocuments", 0),
    )


def fail_processor_command(request: FailProcessor) -> dict[str, Any]:
    """The command document a client sends for ``request``."""
    command: dict[str, Any] = {
        FAIL_PROCESSOR: request.name,
        "message": request.message,
        "code": request.code,
        "retryable": request.retryable,
    }
    if request.after_documents is not None:
        command["afterDocuments"] = request.after_documents
    return command


class ControlError(Exception):
    """A control command was refused, or the emulator could not be reached."""


def send_fail_processor(client_kwargs: Mapping[str, Any], request: FailProcessor) -> str:
    """Send ``request`` with a client of ``client_kwargs`` (TLS always); the processor's
    state after it. Raises :class:`ControlError` with the emulator's words."""
    options = {"tls": True, "serverSelectionTimeoutMS": 5000, **client_kwargs}
    try:
        with MongoClient[dict[str, Any]](**options) as client:
            reply = client.admin.command(fail_processor_command(request))
    except OperationFailure as exc:
        details = exc.details or {}
        raise ControlError(f"{details.get('errmsg', exc)} (code {exc.code})") from None
    except PyMongoError as exc:
        raise ControlError(f"cannot reach the emulator: {type(exc).__name__}: {exc}") from None
    return str(reply.get("state"))
