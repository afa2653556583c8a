"""What went wrong when calling the Admin API, in one plain sentence without secrets: the
same words for a connection test in every orchestrator."""

from __future__ import annotations

from asp_core.admin.errors import (
    WRITER_ROLES,
    AdminApiError,
    AdminAuthenticationError,
    AdminForbiddenError,
    AdminNotFoundError,
    AdminTimeoutError,
    is_tls_failure,
)


def describe_admin_failure(exc: BaseException, *, base_url: str, who: str, project: str) -> str:
    """One sentence: the credential refused (401), the role missing (403), TLS, no
    answer, no such project, or what the API said. ``who`` names the credential (its
    public part), never the secret."""
    if isinstance(exc, AdminAuthenticationError):
        return (
            f"The Admin API at {base_url} refused the {who} (401): check the login and "
            "password (client ID and secret, or public and private key) and the credential "
            "type."
        )
    if isinstance(exc, AdminForbiddenError):
        return (
            f"The {who} may not do this in project {project} (403): it needs the "
            f"{WRITER_ROLES} role on the project (and, where the organization requires one, "
            f"an API access list entry for this address). The API said: {exc}"
        )
    if is_tls_failure(exc):
        return (
            f"TLS with {base_url} failed: its certificate is not trusted or does not match "
            "(is the CA file right?)."
        )
    if isinstance(exc, AdminNotFoundError) and exc.error_code == "GROUP_NOT_FOUND":
        return f"The Admin API at {base_url} knows no project {project} (404)."
    if isinstance(exc, AdminTimeoutError):
        return f"The Admin API at {base_url} did not answer in time: {exc}"
    if isinstance(exc, AdminApiError) and exc.status is None:
        return f"Cannot reach the Admin API at {base_url}: {exc}"
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
