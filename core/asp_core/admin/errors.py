"""Errors of the Admin API client. Messages name the request (method and path) and what
Atlas said; never a credential, a token or a request body."""

from __future__ import annotations

import ssl
from typing import Any

from asp_core.errors import AspError, Unretryable

#: The project roles that may manage workspaces and connections.
WRITER_ROLES = "Project Owner or Project Stream Processing Owner"


class AdminApiError(AspError):
    """The Admin API answered with an error; ``status`` is the HTTP status (None when no
    answer came), ``error_code`` Atlas's ``errorCode``. ``retry`` is False on a write whose
    outcome stayed unknown (the client never resends it)."""

    retry: bool = True

    def __init__(
        self, message: str, *, status: int | None = None, error_code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


class AdminRateLimitedError(AdminApiError):
    """429 after every retry the client allows; ``retry_after``: the seconds Atlas asked
    to wait (None without ``Retry-After``)."""

    retry_after: float | None = None


class AdminServerError(AdminApiError):
    """5xx after every retry the client allows (or a write whose outcome stayed unknown)."""


class AdminTimeoutError(AdminApiError):
    """No answer within the timeout (connect, read or the whole retried call)."""


class AdminTlsError(Unretryable, AdminApiError):
    """The Admin API's certificate failed verification (an unknown CA, another host's name,
    expired) or the TLS handshake failed: no retry fixes that."""


class AdminRequestError(Unretryable, AdminApiError):
    """A 4xx no retry can fix: bad input (400), an unserved version (406), a conflict (409);
    also a redirect (3xx: the client follows none, a sign of a wrong ``base_url``)."""


class AdminAuthenticationError(Unretryable, AdminApiError):
    """401: the credential was refused (after one token refresh for a service account)."""


class AdminForbiddenError(Unretryable, AdminApiError):
    """403: the credential lacks the role, or the caller's IP is not on the access list."""


class AdminNotFoundError(Unretryable, AdminApiError, LookupError):
    """404: no such workspace or connection."""


#: 404s that say the project is missing, not the workspace, connection or processor asked for.
PROJECT_NOT_FOUND = frozenset({"GROUP_NOT_FOUND"})


def is_gone(error: AdminNotFoundError) -> bool:
    """Whether a 404 says the resource asked for is absent (a delete's success, the end of
    a wait for it to go): Atlas's error document, naming no missing project. A wrong
    project ID, or a 404 that is no Atlas answer (a wrong base URL, a proxy), is an error."""
    return error.error_code is not None and error.error_code not in PROJECT_NOT_FOUND


def error_for(status: int, method: str, path: str, body: Any) -> AdminApiError:
    """The error for an answer ``status`` with Atlas's error document ``body``."""
    doc = body if isinstance(body, dict) else {}
    code = doc.get("errorCode") if isinstance(doc.get("errorCode"), str) else None
    detail = doc.get("detail") if isinstance(doc.get("detail"), str) else ""
    said = f": {detail.rstrip('.')}" if detail else ""
    where = f"{method} {path} answered {status}"
    kwargs: dict[str, Any] = {"status": status, "error_code": code}
    if status == 401:
        return AdminAuthenticationError(f"{where} (credential refused){said}", **kwargs)
    if status == 403:
        return AdminForbiddenError(
            f"{where}{said}. The credential needs the {WRITER_ROLES} role on this project "
            "(and, where the organization requires one, an API access list entry for this "
            "address).",
            **kwargs,
        )
    if status == 404:
        return AdminNotFoundError(f"{where} (not found){said}", **kwargs)
    if status == 429:
        return AdminRateLimitedError(f"{where} (rate limited){said}", **kwargs)
    if status >= 500:
        return AdminServerError(f"{where} (server error){said}", **kwargs)
    if 300 <= status < 400:
        return AdminRequestError(f"{where} (a redirect, not followed: check base_url)", **kwargs)
    return AdminRequestError(f"{where}{said}", **kwargs)


class AdminWaitTimeoutError(AdminTimeoutError):
    """A bounded wait (a connection READY, a workspace gone, ...) ran out of time; the
    message says what was last seen, and ``last_seen`` holds those words alone ("" when
    the raiser gave none)."""

    last_seen: str = ""


class AdminConnectionDeployingError(AdminWaitTimeoutError):
    """A connection's delete that Atlas refused until the call's deadline because the
    connection was still deploying (409 ``STREAM_KAFKA_CONNECTION_IS_DEPLOYING``: being
    provisioned, PENDING); it can be deleted once READY or FAILED."""


class AdminConnectionFailedError(Unretryable, AdminApiError):
    """A connection Atlas reports FAILED; the message carries Atlas's words
    (``errorMessage``)."""


class AdminDownloadTooLargeError(Unretryable, AdminApiError):
    """A log download grew past the client's ``max_bytes``."""


_TLS_WORDS = ("certificate_verify_failed", "certificate verify failed")


def is_tls_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it was raised from, or while handling) is a TLS
    failure: an untrusted or mismatched certificate, a failed handshake."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (ssl.SSLError, AdminTlsError)):
            return True
        text = str(current).lower()
        if any(word in text for word in _TLS_WORDS):
            return True
        current = current.__cause__ or current.__context__
    return False


def transport_error(method: str, path: str, exc: BaseException) -> AdminApiError:
    """The error for a request that got no answer: :class:`AdminTlsError` when TLS failed
    (never retried), else an :class:`AdminApiError` naming the transport's failure (a lost
    connection, retried as the call allows). No URL, header or body is quoted."""
    if is_tls_failure(exc):
        return AdminTlsError(
            f"{method} {path}: TLS failed: the certificate is not trusted or does not match "
            "(is the CA file right?)"
        )
    return AdminApiError(f"{method} {path}: {type(exc).__name__}")
