"""Command errors the emulator returns, with the server codes it uses.

Codes come from the MongoDB server's error registry (``error_codes.yml``). Where the
Atlas front end's choice is unknown (see the protocol reference, section 5), the
stream-processor codes 415-420 are used; general conditions use the general codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

INTERNAL_ERROR = (1, "InternalError")
FAILED_TO_PARSE = (9, "FailedToParse")
UNAUTHORIZED = (13, "Unauthorized")
TYPE_MISMATCH = (14, "TypeMismatch")
OVERFLOW = (15, "Overflow")
AUTHENTICATION_FAILED = (18, "AuthenticationFailed")
CURSOR_NOT_FOUND = (43, "CursorNotFound")
COMMAND_NOT_FOUND = (59, "CommandNotFound")
INVALID_NAMESPACE = (73, "InvalidNamespace")
COMMAND_FAILED = (125, "CommandFailed")
EXCEEDED_MEMORY_LIMIT = (146, "ExceededMemoryLimit")
PROCESSOR_DOES_NOT_EXIST = (415, "StreamProcessorDoesNotExist")
PROCESSOR_ALREADY_EXISTS = (416, "StreamProcessorAlreadyExists")
PROCESSOR_INVALID_OPTIONS = (420, "StreamProcessorInvalidOptions")
BSON_OBJECT_TOO_LARGE = (10334, "BSONObjectTooLarge")

CODE_NAMES: dict[int, str] = {
    code: name
    for code, name in (
        INTERNAL_ERROR,
        FAILED_TO_PARSE,
        UNAUTHORIZED,
        TYPE_MISMATCH,
        OVERFLOW,
        AUTHENTICATION_FAILED,
        CURSOR_NOT_FOUND,
        COMMAND_NOT_FOUND,
        INVALID_NAMESPACE,
        COMMAND_FAILED,
        EXCEEDED_MEMORY_LIMIT,
        PROCESSOR_DOES_NOT_EXIST,
        PROCESSOR_ALREADY_EXISTS,
        PROCESSOR_INVALID_OPTIONS,
        BSON_OBJECT_TOO_LARGE,
        (6, "HostUnreachable"),
        (7, "HostNotFound"),
        (89, "NetworkTimeout"),
        (91, "ShutdownInProgress"),
        (189, "PrimarySteppedDown"),
        (262, "ExceededTimeLimit"),
        (9001, "SocketException"),
        (10107, "NotWritablePrimary"),
        (11600, "InterruptedAtShutdown"),
        (11602, "InterruptedDueToReplStateChange"),
        (13435, "NotPrimaryNoSecondaryOk"),
        (13436, "NotPrimaryOrSecondary"),
    )
}


class CommandError(Exception):
    """A command failed: becomes ``{ok: 0, errmsg, code, codeName, errorLabels?}``."""

    def __init__(
        self,
        error: tuple[int, str] | int,
        message: str,
        error_labels: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        if isinstance(error, tuple):
            self.code, self.code_name = error
        else:
            self.code, self.code_name = error, CODE_NAMES.get(error, "UnknownError")
        self.message = message
        self.error_labels = list(error_labels)

    def to_reply(self) -> dict[str, Any]:
        """The error reply document."""
        reply: dict[str, Any] = {
            "ok": 0.0,
            "errmsg": self.message,
            "code": self.code,
            "codeName": self.code_name,
        }
        if self.error_labels:
            reply["errorLabels"] = self.error_labels
        return reply
