"""Atlas's error answers: an HTTP status, an ``errorCode``, a ``detail`` and its
``parameters`` (what the detail names), and the document that carries them."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    406: "Not Acceptable",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class ApiError(Exception):
    """An Atlas error answer: HTTP ``status``, ``errorCode`` and ``detail``."""

    def __init__(self, status: int, code: str, detail: str, parameters: Sequence[str] = ()) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.parameters = list(parameters)


def error_response(
    status: int,
    code: str,
    detail: str,
    parameters: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """Atlas's error document."""
    body = {
        "detail": detail,
        "error": status,
        "errorCode": code,
        "parameters": parameters or [],
        "reason": _REASONS.get(status, "Error"),
    }
    return web.json_response(body, status=status, headers=headers)
