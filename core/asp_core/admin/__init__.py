"""The Atlas Administration API v2 for stream processing: workspaces and the connection
registry (:class:`AdminClient`; :class:`AsyncAdminClient` for asyncio, the source the
blocking client is generated from), with service-account or API-key credentials."""

from asp_core.admin.asynchronous import AsyncAdminClient
from asp_core.admin.auth import TOKENS, ApiKey, ServiceAccount, TokenCache
from asp_core.admin.client import ATLAS_URL, AdminClient
from asp_core.admin.errors import (
    AdminApiError,
    AdminAuthenticationError,
    AdminForbiddenError,
    AdminNotFoundError,
    AdminRateLimitedError,
    AdminRequestError,
    AdminServerError,
    AdminTimeoutError,
)

__all__ = [
    "ATLAS_URL",
    "TOKENS",
    "AdminApiError",
    "AdminAuthenticationError",
    "AdminClient",
    "AdminForbiddenError",
    "AdminNotFoundError",
    "AdminRateLimitedError",
    "AdminRequestError",
    "AdminServerError",
    "AdminTimeoutError",
    "ApiKey",
    "AsyncAdminClient",
    "ServiceAccount",
    "TokenCache",
]
