"""``AsyncAdminClient``: workspaces and the connection registry through the Atlas
Administration API v2. Written once for asyncio; ``tools/synchro.py`` generates the
blocking client from that source (``make synchro``), so both behave alike.

Reliability: a 429 waits ``Retry-After`` (absent: exponential backoff); a 5xx, a timeout or
a lost connection is retried for reads, and for writes only after a look (GET) showed the
write did not happen (when it did, the look's document is the answer: no duplicate); a 401
on a service account's token fetches a new token once; a 404 on delete is success. Every
request is bounded by ``timeout`` and every call by ``attempts`` and ``deadline``. Tokens
come from a :class:`~asp_core.admin.auth.TokenCache` shared by the threads and the tasks of
the process (one fetch per credential at a time).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
)

from asp_core.admin import versions
from asp_core.admin.auth import TOKEN_PATH, TOKENS, ApiKey, Credential, ServiceAccount, TokenCache
from asp_core.admin.errors import (
    AdminApiError,
    AdminAuthenticationError,
    AdminNotFoundError,
    AdminRateLimitedError,
    AdminServerError,
    AdminTimeoutError,
    error_for,
)
from asp_core.admin.pages import check_items_per_page, is_last_page, page_items, page_params
from asp_core.admin.retries import (
    AsyncLook,
    backoff,
    contains,
    explain,
    json_of,
    retry_after,
    retryable,
)

log = logging.getLogger(__name__)

ATLAS_URL = "https://cloud.mongodb.com"


class AsyncAdminClient:
    """The streams endpoints of one Atlas project (``project_id``, Atlas's ``groupId``).

    ``credential``: a :class:`ServiceAccount` or an :class:`ApiKey`. ``ca_file``: a PEM CA
    to trust instead of the system's (the emulator's). ``timeout`` bounds each request,
    ``attempts`` and ``deadline`` (seconds) each call with its retries; ``backoff`` is the
    first wait without ``Retry-After``, doubled each time up to ``max_wait``.
    """

    def __init__(
        self,
        project_id: str,
        credential: Credential,
        *,
        base_url: str = ATLAS_URL,
        ca_file: str | None = None,
        timeout: float = 30.0,
        attempts: int = 5,
        deadline: float = 300.0,
        backoff: float = 1.0,
        max_wait: float = 60.0,
        token_cache: TokenCache = TOKENS,
    ) -> None:
        if not isinstance(credential, (ServiceAccount, ApiKey)):
            raise TypeError("credential must be a ServiceAccount or an ApiKey")
        self.project_id = project_id
        self.base_url = base_url.rstrip("/")
        self._credential = credential
        self._tokens = token_cache
        self._attempts = attempts
        self._deadline = deadline
        self._backoff = backoff
        self._max_wait = max_wait
        verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=ca_file) if ca_file else True
        )
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            verify=verify,
            timeout=httpx.Timeout(timeout),
            auth=credential.httpx_auth() if isinstance(credential, ApiKey) else None,
            follow_redirects=False,
        )

    # -- lifecycle ------------------------------------------------------------------------
    async def close(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncAdminClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- workspaces -----------------------------------------------------------------------
    async def list_workspaces(self, *, items_per_page: int = 100) -> list[dict[str, Any]]:
        """Every workspace of the project (all pages)."""
        return await self._list(self._streams(), items_per_page)

    async def get_workspace(
        self, name: str, *, include_connections: bool = False
    ) -> dict[str, Any]:
        """The workspace ``name`` (:class:`AdminNotFoundError` when there is none)."""
        params = {"includeConnections": "true"} if include_connections else None
        return await self._read("GET", self._streams(name), params=params)

    async def create_workspace(
        self,
        name: str,
        *,
        cloud_provider: str = "AWS",
        region: str = "VIRGINIA_USA",
        tier: str | None = None,
        max_tier_size: str | None = None,
        sample_connections: bool = False,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create a workspace; with ``sample_connections`` it gets ``sample_stream_solar``."""
        body: dict[str, Any] = {
            "name": name,
            "dataProcessRegion": {"cloudProvider": cloud_provider, "region": region},
            **(extra or {}),
        }
        config = {"tier": tier, "maxTierSize": max_tier_size}
        if any(config.values()):
            body["streamConfig"] = {k: v for k, v in config.items() if v}
        path, version = self._streams(), versions.STREAMS
        if sample_connections:
            body["sampleConnections"] = {"solar": True}
            path, version = f"{path}:withSampleConnections", versions.WITH_SAMPLE_CONNECTIONS
        return await self._write(
            "POST", path, body, look=self._exists(self._streams(name)), version=version
        )

    async def update_workspace(self, name: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """PATCH the workspace with ``changes`` (``streamConfig``, ``region``, ...)."""
        path = self._streams(name)
        return await self._write("PATCH", path, dict(changes), look=self._applied(path, changes))

    async def delete_workspace(self, name: str) -> None:
        """Ask for the workspace's deletion (Atlas finishes it later); absent is success."""
        await self._delete(self._streams(name))

    # -- the connection registry ------------------------------------------------------------
    async def list_connections(
        self, workspace: str, *, items_per_page: int = 100
    ) -> list[dict[str, Any]]:
        """Every connection of the workspace's registry (all pages)."""
        return await self._list(self._connections(workspace), items_per_page)

    async def get_connection(self, workspace: str, name: str) -> dict[str, Any]:
        """The connection ``name`` (secrets are never returned by Atlas)."""
        return await self._read("GET", self._connections(workspace, name))

    async def create_connection(
        self, workspace: str, definition: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Create a connection from its Admin API body (``name``, ``type``, ...)."""
        name = definition.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError("a connection definition needs a non-empty 'name'")
        look = self._exists(self._connections(workspace, name))
        return await self._write("POST", self._connections(workspace), dict(definition), look=look)

    async def update_connection(
        self, workspace: str, name: str, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        """PATCH the connection with ``changes``."""
        path = self._connections(workspace, name)
        return await self._write("PATCH", path, dict(changes), look=self._applied(path, changes))

    async def delete_connection(self, workspace: str, name: str) -> None:
        """Ask for the connection's deletion; absent is success."""
        await self._delete(self._connections(workspace, name))

    # -- paths and looks ------------------------------------------------------------------------
    def _streams(self, name: str | None = None) -> str:
        base = f"/api/atlas/v2/groups/{quote(self.project_id, safe='')}/streams"
        return base if name is None else f"{base}/{quote(name, safe='')}"

    def _connections(self, workspace: str, name: str | None = None) -> str:
        base = f"{self._streams(workspace)}/connections"
        return base if name is None else f"{base}/{quote(name, safe='')}"

    def _exists(self, path: str, version: str = versions.STREAMS) -> AsyncLook:
        async def look() -> tuple[bool, Any]:
            try:
                return True, await self._read("GET", path, attempts=1, version=version)
            except AdminNotFoundError:
                return False, None

        return look

    def _applied(
        self, path: str, changes: Mapping[str, Any], version: str = versions.STREAMS
    ) -> AsyncLook:
        async def look() -> tuple[bool, Any]:
            doc = await self._read("GET", path, attempts=1, version=version)
            return contains(doc, changes), doc

        return look

    async def _delete(self, path: str, version: str = versions.STREAMS) -> None:
        async def look() -> tuple[bool, Any]:
            try:
                doc = await self._read("GET", path, attempts=1, version=version)
            except AdminNotFoundError:
                return True, None
            return doc.get("state") in ("DELETING", "DELETED"), None

        try:
            await self._call("DELETE", path, version, look=look)
        except AdminNotFoundError:
            return

    # -- requests ---------------------------------------------------------------------------------
    async def _list(
        self, path: str, items_per_page: int, version: str = versions.STREAMS
    ) -> list[dict[str, Any]]:
        """Every item of a paged list (see :mod:`asp_core.admin.pages`)."""
        check_items_per_page(items_per_page)
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            params = page_params(page, items_per_page)
            doc = await self._read("GET", path, params=params, version=version)
            results = page_items(doc)
            items.extend(results)
            if is_last_page(doc, len(results), len(items), items_per_page):
                return items
            page += 1

    async def _read(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        attempts: int | None = None,
        version: str = versions.STREAMS,
    ) -> Any:
        return await self._call(method, path, version, params=params, attempts=attempts)

    async def _write(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        *,
        look: AsyncLook,
        version: str = versions.STREAMS,
    ) -> Any:
        return await self._call(method, path, version, body=body, look=look)

    async def _call(
        self,
        method: str,
        path: str,
        version: str,
        *,
        body: dict[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        look: AsyncLook | None = None,
        attempts: int | None = None,
    ) -> Any:
        """One call with its retries; ``look`` marks a write (see the module's docstring)."""

        async def attempt() -> Any:
            try:
                response = await self._send(method, path, version, body, params)
            except AdminApiError as exc:
                return await self._after_failed_write(exc, look)
            if response.status_code < 400:
                return response.json() if response.content else None
            error = error_for(response.status_code, method, path, json_of(response))
            if isinstance(error, AdminRateLimitedError):
                error.retry_after = retry_after(response.headers.get("Retry-After"))
                raise error
            if isinstance(error, AdminServerError):
                return await self._after_failed_write(error, look)
            raise error

        retrying = AsyncRetrying(
            retry=retry_if_exception(retryable),
            stop=stop_after_attempt(attempts or self._attempts) | stop_after_delay(self._deadline),
            wait=self._wait,
            reraise=True,
            before_sleep=lambda state: log.warning(
                "%s %s: %s; retrying", method, path, explain(state)
            ),
        )
        return await retrying(attempt)

    async def _after_failed_write(self, exc: AdminApiError, look: AsyncLook | None) -> Any:
        """A write's 5xx or lost answer: the look's document when the write happened; else
        the error, retried (a read's error is retried as is)."""
        if look is None:
            raise exc
        try:
            happened, doc = await look()
        except AdminApiError:
            exc.retry = False  # outcome unknown: never resend
            raise exc from None
        if happened:
            log.info("the write's answer was lost but the write happened; no resend")
            return doc
        raise exc

    def _wait(self, state: RetryCallState) -> float:
        return backoff(state, self._backoff, self._max_wait)

    async def _send(
        self,
        method: str,
        path: str,
        version: str,
        body: dict[str, Any] | None,
        params: Mapping[str, Any] | None,
    ) -> httpx.Response:
        """One request (and, on a refused token, one more with a new token)."""
        media = versions.media_type(version)
        headers = {"Accept": media}
        if body is not None:
            headers["Content-Type"] = media
        token = await self._bearer()
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        response = await self._request(method, path, headers, body, params)
        if response.status_code == 401 and token is not None:
            headers["Authorization"] = f"Bearer {await self._bearer(stale=token)}"
            response = await self._request(method, path, headers, body, params)
        return response

    async def _request(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: dict[str, Any] | None,
        params: Mapping[str, Any] | None,
    ) -> httpx.Response:
        try:
            return await self._http.request(
                method, path, headers=headers, json=body, params=dict(params) if params else None
            )
        except httpx.TimeoutException:
            raise AdminTimeoutError(f"{method} {path}: no answer within the timeout") from None
        except httpx.TransportError as exc:
            raise AdminApiError(f"{method} {path}: {type(exc).__name__}") from None

    async def _bearer(self, *, stale: str | None = None) -> str | None:
        account = self._credential
        if not isinstance(account, ServiceAccount):
            return None
        url = f"{self.base_url}{TOKEN_PATH}"
        return await self._tokens.aget(
            url, account, lambda: self._fetch_token(account), stale=stale
        )

    async def _fetch_token(self, account: ServiceAccount) -> tuple[str, float]:
        try:
            response = await self._http.post(
                TOKEN_PATH,
                auth=(account.client_id, account.client_secret),
                data={"grant_type": "client_credentials"},
                headers={"Accept": "application/json"},
            )
        except httpx.TimeoutException:
            raise AdminTimeoutError("POST /api/oauth/token: no answer within the timeout") from None
        except httpx.TransportError as exc:
            raise AdminApiError(f"POST /api/oauth/token: {type(exc).__name__}") from None
        if response.status_code != 200:
            error = error_for(response.status_code, "POST", TOKEN_PATH, json_of(response))
            if response.status_code in (400, 401):
                raise AdminAuthenticationError(
                    f"service account {account.client_id!r}: {error}", status=response.status_code
                )
            raise error
        doc = response.json()
        return str(doc["access_token"]), float(doc.get("expires_in", 3600))
