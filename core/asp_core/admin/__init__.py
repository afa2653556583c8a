"""The Atlas Administration API v2 for stream processing: workspaces, the connection
registry, processors and logs (:class:`AdminClient`; :class:`AsyncAdminClient` for asyncio,
the source the blocking client is generated from), with service-account or API-key
credentials; bounded waits in :mod:`asp_core.admin.waits`."""

from asp_core.admin.asynchronous import AsyncAdminClient
from asp_core.admin.auth import TOKENS, ApiKey, ServiceAccount, TokenCache
from asp_core.admin.client import ATLAS_URL, AdminClient
from asp_core.admin.errors import (
    AdminApiError,
    AdminAuthenticationError,
    AdminConnectionDeployingError,
    AdminConnectionFailedError,
    AdminDownloadTooLargeError,
    AdminForbiddenError,
    AdminNotFoundError,
    AdminRateLimitedError,
    AdminRequestError,
    AdminServerError,
    AdminTimeoutError,
    AdminTlsError,
    AdminWaitTimeoutError,
)

__all__ = [
    "ATLAS_URL",
    "TOKENS",
    "AdminApiError",
    "AdminAuthenticationError",
    "AdminClient",
    "AdminConnectionDeployingError",
    "AdminConnectionFailedError",
    "AdminDownloadTooLargeError",
    "AdminForbiddenError",
    "AdminNotFoundError",
    "AdminRateLimitedError",
    "AdminRequestError",
    "AdminServerError",
    "AdminTimeoutError",
    "AdminTlsError",
    "AdminWaitTimeoutError",
    "ApiKey",
    "AsyncAdminClient",
    "ServiceAccount",
    "TokenCache",
]
