"""``AsyncAdminClient``: workspaces, the connection registry, processors and logs through
the Atlas Administration API v2. Written once for asyncio; ``tools/synchro.py`` generates the
blocking client from that source (``make synchro``), so both behave alike.

Reliability: a 429 waits ``Retry-After`` (absent: exponential backoff); a 5xx, a timeout or
a lost connection is retried for reads, and for writes only after a look (GET) showed the
write did not happen (when it did, the look's document is the answer: no duplicate; a look
that fails leaves the outcome unknown: raised, never resent); a resend that is refused
(409, 400, 404: the first attempt may have landed after the look) is judged by a look too.
A token that cannot be fetched sent nothing: retried as such. A 401 on a service account's
token fetches a new token once; a 404 on delete is success unless it says the project is
missing; a connection's delete that Atlas refuses while the connection deploys (409
``STREAM_KAFKA_CONNECTION_IS_DEPLOYING``) is asked again until the deadline. Each phase of a
request (connect, send, each read) is bounded by ``timeout``, and every call by
``attempts`` and ``deadline`` (no pause runs past it). Tokens come from a
:class:`~asp_core.admin.auth.TokenCache` shared by the threads and the tasks of the process
(one fetch per credential at a time). Names are single path segments: ``""``, ``.`` and
``..`` are refused (ValueError), as URL normalization would turn them into another path.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import ssl
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, BinaryIO
from urllib.parse import quote

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_before_delay,
)

from asp_core.admin import versions
from asp_core.admin.auth import TOKEN_PATH, TOKENS, ApiKey, Credential, ServiceAccount, TokenCache
from asp_core.admin.errors import (
    AdminApiError,
    AdminAuthenticationError,
    AdminConnectionDeployingError,
    AdminDownloadTooLargeError,
    AdminNotFoundError,
    AdminRateLimitedError,
    AdminRequestError,
    AdminServerError,
    AdminTimeoutError,
    error_for,
    is_gone,
    transport_error,
)
from asp_core.admin.pages import MAX_ITEMS_PER_PAGE, Pager
from asp_core.admin.retries import (
    KAFKA_DEPLOYING,
    AsyncLook,
    StopAfterAttempts,
    backoff,
    contains,
    deploying,
    explain,
    json_of,
    retry_after,
    retryable,
    unknown_outcome,
)

log = logging.getLogger(__name__)

ATLAS_URL = "https://cloud.mongodb.com"
#: The largest log download the client accepts unless told otherwise (bytes, compressed).
MAX_LOG_BYTES = 256 * 1024 * 1024
#: The processor states from which a start has not happened yet.
NOT_STARTED = frozenset({"CREATED", "STOPPED", "FAILED"})
When = datetime.datetime | float | int | None


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
        self._group = _segment(project_id, "project_id")
        self.project_id = project_id
        self.base_url = base_url.rstrip("/")
        self._credential = credential
        self._tokens = token_cache
        self._attempts = attempts
        self._deadline = deadline
        self._backoff = backoff
        self._max_wait = max_wait
        self._timeout = timeout
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
    async def list_workspaces(
        self, *, items_per_page: int = MAX_ITEMS_PER_PAGE
    ) -> list[dict[str, Any]]:
        """Every workspace of the project (all pages)."""
        return await self._list(self._streams(), items_per_page)

    async def get_workspace(
        self, name: str, *, include_connections: bool = False, attempts: int | None = None
    ) -> dict[str, Any]:
        """The workspace ``name`` (:class:`AdminNotFoundError` when there is none).
        ``attempts``: the client's own (None), or e.g. 1 for one bounded look (waits)."""
        params = {"includeConnections": "true"} if include_connections else None
        return await self._read("GET", self._streams(name), params=params, attempts=attempts)

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
        self, workspace: str, *, items_per_page: int = MAX_ITEMS_PER_PAGE
    ) -> list[dict[str, Any]]:
        """Every connection of the workspace's registry (all pages)."""
        return await self._list(self._connections(workspace), items_per_page)

    async def get_connection(
        self, workspace: str, name: str, *, attempts: int | None = None
    ) -> dict[str, Any]:
        """The connection ``name`` (secrets are never returned by Atlas)."""
        return await self._read("GET", self._connections(workspace, name), attempts=attempts)

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

    async def delete_connection(
        self, workspace: str, name: str, *, deadline: float | None = None
    ) -> None:
        """Ask for the connection's deletion; absent is success. While Atlas refuses it
        because the connection is still deploying (409
        ``STREAM_KAFKA_CONNECTION_IS_DEPLOYING``: a Kafka connection being provisioned,
        PENDING), it is asked again with backoff, for at most ``deadline`` seconds (None:
        the client's ``deadline``), then :class:`AdminConnectionDeployingError`. No other
        409 is retried."""
        path = self._connections(workspace, name)
        try:
            await self._delete(path, patient=deploying, deadline=deadline)
        except AdminRequestError as exc:
            if not deploying(exc) or not exc.retry:  # not retried: another reason than time
                raise
            bound = self._deadline if deadline is None else deadline
            raise AdminConnectionDeployingError(
                f"DELETE {path}: connection {name!r} of workspace {workspace!r} is still "
                f"deploying: Atlas refused its deletion (409 {KAFKA_DEPLOYING}) for the whole "
                f"deadline of {bound:g} s; it can be deleted once READY or FAILED",
                status=409,
                error_code=KAFKA_DEPLOYING,
            ) from None

    # -- processors ---------------------------------------------------------------------------
    async def list_processors(
        self, workspace: str, *, items_per_page: int = MAX_ITEMS_PER_PAGE
    ) -> list[dict[str, Any]]:
        """Every processor of the workspace (all pages), each with ``state`` and ``stats``."""
        return await self._list(self._processors(workspace), items_per_page, versions.PROCESSORS)

    async def get_processor(
        self, workspace: str, name: str, *, attempts: int | None = None
    ) -> dict[str, Any]:
        """The processor ``name``: its definition, ``state`` and ``stats``."""
        path = self._processor(workspace, name)
        return await self._read("GET", path, attempts=attempts, version=versions.PROCESSORS)

    async def create_processor(
        self,
        workspace: str,
        name: str,
        pipeline: Sequence[Mapping[str, Any]],
        *,
        options: Mapping[str, Any] | None = None,
        tier: str | None = None,
        failover_enabled: bool | None = None,
    ) -> dict[str, Any]:
        """Create a processor (CREATED, not started). ``options``: Atlas's (``dlq``:
        ``{connectionName, db, coll}``). A lost answer is resolved by looking for a processor
        of that name with that pipeline."""
        body: dict[str, Any] = {"name": name, "pipeline": [dict(stage) for stage in pipeline]}
        if options:
            body["options"] = dict(options)
        if tier is not None:
            body["tier"] = tier
        if failover_enabled is not None:
            body["failoverEnabled"] = failover_enabled
        look = self._applied(
            self._processor(workspace, name),
            {"name": name, "pipeline": body["pipeline"]},
            versions.PROCESSORS,
        )
        path = f"{self._streams(workspace)}/processor"
        return await self._write("POST", path, body, look=look, version=versions.PROCESSORS)

    async def start_processor(
        self,
        workspace: str,
        name: str,
        *,
        resume_from_checkpoint: bool | None = None,
        start_at_operation_time: datetime.datetime | str | None = None,
        tier: str | None = None,
        failover: Mapping[str, Any] | None = None,
    ) -> None:
        """Start the processor: ``:start``, or ``:startWith`` when an option is given
        (``resume_from_checkpoint`` False starts afresh; ``start_at_operation_time``, ISO
        8601 or an aware datetime; ``tier``; ``failover``: ``{region, mode, dryRun,
        clearCheckpoint}``). A lost answer is resolved by looking at its state."""
        body: dict[str, Any] = {}
        if resume_from_checkpoint is not None:
            body["resumeFromCheckpoint"] = resume_from_checkpoint
        if start_at_operation_time is not None:
            body["startAtOperationTime"] = _iso(start_at_operation_time)
        if tier is not None:
            body["tier"] = tier
        if failover is not None:
            body["failover"] = dict(failover)
        path = self._processor(workspace, name)
        look = self._state_look(path, lambda state: state not in NOT_STARTED)
        if not body:
            await self._write("POST", f"{path}:start", None, look=look, version=versions.PROCESSORS)
            return
        await self._write("POST", f"{path}:startWith", body, look=look, version=versions.START_WITH)

    async def stop_processor(self, workspace: str, name: str) -> None:
        """Stop the processor (STARTED to STOPPED). A lost answer is resolved by looking."""
        path = self._processor(workspace, name)
        look = self._state_look(path, lambda state: state != "STARTED")
        await self._write("POST", f"{path}:stop", None, look=look, version=versions.PROCESSORS)

    async def modify_processor(
        self, workspace: str, name: str, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        """PATCH the processor (stopped or never started): ``pipeline``, ``options``
        (``dlq``, ``resumeFromCheckpoint``), ``name`` (a rename), ``tier``,
        ``failoverEnabled``. Its document after the change."""
        path = self._processor(workspace, name)
        after = self._processor(workspace, str(changes.get("name") or name))
        look = self._applied(after, changes, versions.PROCESSORS)
        version = versions.PROCESSORS
        return await self._write("PATCH", path, dict(changes), look=look, version=version)

    async def delete_processor(self, workspace: str, name: str) -> None:
        """Delete the processor, in any state (Atlas stops it first); absent is success."""
        await self._delete(self._processor(workspace, name), versions.PROCESSORS)

    # -- logs (gzip) -----------------------------------------------------------------------------
    async def download_logs(
        self,
        workspace: str,
        kind: str = "operational",
        *,
        start: When = None,
        end: When = None,
        processor: str | None = None,
        max_bytes: int = MAX_LOG_BYTES,
    ) -> bytes:
        """The workspace's ``operational`` or ``audit`` logs between ``start`` and ``end``
        (datetimes or epoch seconds), of one ``processor`` or all: the gzip Atlas sends
        (``gzip.decompress`` it). Bounded by ``max_bytes`` and the client's deadline."""
        _, data = await self._download(workspace, kind, start, end, processor, max_bytes, None)
        return data

    async def save_logs(
        self,
        workspace: str,
        destination: str | os.PathLike[str],
        kind: str = "operational",
        *,
        start: When = None,
        end: When = None,
        processor: str | None = None,
        max_bytes: int = MAX_LOG_BYTES,
    ) -> int:
        """:meth:`download_logs` streamed to the file ``destination`` (a ``.gz``); the
        number of bytes written. The bytes go to a file beside it (rewritten whole by a
        retry), renamed over ``destination`` once complete: a failed download leaves
        ``destination`` as it was."""
        received, _ = await self._download(
            workspace, kind, start, end, processor, max_bytes, destination
        )
        return received

    # -- paths and looks ------------------------------------------------------------------------
    def _streams(self, workspace: str | None = None) -> str:
        base = f"/api/atlas/v2/groups/{self._group}/streams"
        return base if workspace is None else f"{base}/{_segment(workspace, 'workspace')}"

    def _connections(self, workspace: str, name: str | None = None) -> str:
        base = f"{self._streams(workspace)}/connections"
        return base if name is None else f"{base}/{_segment(name, 'connection name')}"

    def _processors(self, workspace: str) -> str:
        return f"{self._streams(workspace)}/processors"

    def _processor(self, workspace: str, name: str) -> str:
        return f"{self._streams(workspace)}/processor/{_segment(name, 'processor name')}"

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
            try:
                doc = await self._read("GET", path, attempts=1, version=version)
            except AdminNotFoundError:
                return False, None
            return contains(doc, changes), doc

        return look

    def _state_look(self, path: str, happened: Callable[[Any], bool]) -> AsyncLook:
        """A start's or stop's look: whether the processor's ``state`` shows it."""

        async def look() -> tuple[bool, Any]:
            doc = await self._read("GET", path, attempts=1, version=versions.PROCESSORS)
            return happened(doc.get("state")), None

        return look

    async def _delete(
        self,
        path: str,
        version: str = versions.STREAMS,
        *,
        patient: Callable[[BaseException], bool] | None = None,
        deadline: float | None = None,
    ) -> None:
        async def look() -> tuple[bool, Any]:
            try:
                doc = await self._read("GET", path, attempts=1, version=version)
            except AdminNotFoundError as exc:
                if not is_gone(exc):
                    raise
                return True, None
            return doc.get("state") in ("DELETING", "DELETED"), None

        try:
            await self._call("DELETE", path, version, look=look, patient=patient, deadline=deadline)
        except AdminNotFoundError as exc:
            if not is_gone(exc):
                raise

    # -- requests ---------------------------------------------------------------------------------
    async def _list(
        self, path: str, items_per_page: int, version: str = versions.STREAMS
    ) -> list[dict[str, Any]]:
        """Every item of a paged list (see :mod:`asp_core.admin.pages`)."""
        pager = Pager(items_per_page)
        while (params := pager.next()) is not None:
            pager.add(await self._read("GET", path, params=params, version=version))
        return pager.items

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
        patient: Callable[[BaseException], bool] | None = None,
        deadline: float | None = None,
    ) -> Any:
        """One call with its retries; ``look`` marks a write (see the module's docstring).
        ``patient``: refusals retried until ``deadline`` (None: the client's), not counted
        as attempts."""
        unsure = False  # an attempt of this write went out and its outcome is not known

        async def attempt() -> Any:
            nonlocal unsure
            try:
                response = await self._send(method, path, version, body, params)
                if response.status_code < 300:
                    return _document(response, method, path)
                error = self._error(response, method, path)
            except _Unsent as unsent:
                raise unsent.error from None
            except AdminApiError as exc:  # no answer, or none that is Atlas's
                error = exc
            if unknown_outcome(error):
                unsure = True
                return await self._after_failed_write(error, look)
            if unsure and isinstance(error, (AdminRequestError, AdminNotFoundError)):
                return await self._after_failed_write(error, look)  # a refused resend
            raise error

        retrying = self._retrying(method, path, attempts, patient=patient, deadline=deadline)
        return await retrying(attempt)

    def _retrying(
        self,
        method: str,
        path: str,
        attempts: int | None = None,
        *,
        patient: Callable[[BaseException], bool] | None = None,
        deadline: float | None = None,
    ) -> AsyncRetrying:
        excused = patient or _never
        return AsyncRetrying(
            retry=retry_if_exception(lambda exc: retryable(exc, also=patient)),
            stop=StopAfterAttempts(attempts or self._attempts, excused)
            | stop_before_delay(self._deadline if deadline is None else deadline),
            wait=self._wait,
            reraise=True,
            before_sleep=lambda state: log.warning(
                "%s %s: %s; retrying", method, path, explain(state)
            ),
        )

    async def _download(
        self,
        workspace: str,
        kind: str,
        start: When,
        end: When,
        processor: str | None,
        max_bytes: int,
        destination: str | os.PathLike[str] | None,
    ) -> tuple[int, bytes]:
        """One log download with its retries (each attempt starts the file or the bytes
        anew): the bytes received, and the bytes themselves when there is no
        ``destination``. Bounded by ``max_bytes`` and the client's deadline."""
        if kind == "operational":
            path, version = (
                f"{self._streams(workspace)}:downloadOperationalLogs",
                versions.OPERATIONAL_LOGS,
            )
        elif kind == "audit":
            path, version = f"{self._streams(workspace)}/auditLogs", versions.AUDIT_LOGS
        else:
            raise ValueError(f"kind must be 'operational' or 'audit', not {kind!r}")
        params: dict[str, Any] = {}
        for key, when in (("startDate", start), ("endDate", end)):
            if when is not None:
                params[key] = _epoch(when)
        if processor:
            params["spName"] = processor
        deadline = time.monotonic() + self._deadline
        media = versions.media_type(version, "gzip")
        part = _part_file(destination) if destination is not None else None

        async def attempt() -> tuple[int, bytes]:
            buffer = bytearray()
            sink = _open_sink(part) if part is not None else None
            write = sink.write if sink is not None else buffer.extend
            try:
                received = await self._stream(path, media, params, deadline, max_bytes, write)
            finally:
                if sink is not None:
                    sink.close()
            return received, bytes(buffer)

        try:
            result: tuple[int, bytes] = await self._retrying("GET", path)(attempt)
        except BaseException:
            if part is not None:
                with contextlib.suppress(OSError):
                    os.remove(part)
            raise
        if part is not None and destination is not None:
            os.replace(part, destination)
        return result

    async def _stream(
        self,
        path: str,
        media: str,
        params: Mapping[str, Any],
        deadline: float,
        max_bytes: int,
        write: Callable[[bytes], Any],
    ) -> int:
        token = await self._bearer()
        for last in (False, True):
            headers = {"Accept": media}
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            try:
                async with self._http.stream(
                    "GET", path, headers=headers, params=dict(params)
                ) as response:
                    if response.status_code == 401 and token is not None and not last:
                        token = await self._bearer(stale=token)
                        continue
                    if response.status_code >= 300:  # redirects are not followed
                        await response.aread()
                        raise self._error(response, "GET", path)
                    received = 0
                    async for chunk in response.aiter_bytes():
                        received += len(chunk)
                        if received > max_bytes:
                            raise AdminDownloadTooLargeError(
                                f"GET {path}: the download passed max_bytes={max_bytes:,}"
                            )
                        if time.monotonic() > deadline:
                            raise AdminTimeoutError(
                                f"GET {path}: the download outlasted the deadline"
                            )
                        write(chunk)
                    return received
            except httpx.TimeoutException:
                raise AdminTimeoutError(f"GET {path}: no answer within the timeout") from None
            except httpx.TransportError as exc:
                raise transport_error("GET", path, exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

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

    @staticmethod
    def _error(response: httpx.Response, method: str, path: str) -> AdminApiError:
        """The error of an answer >= 400 (a 429 carries its ``Retry-After``)."""
        error = error_for(response.status_code, method, path, json_of(response))
        if isinstance(error, AdminRateLimitedError):
            error.retry_after = retry_after(response.headers.get("Retry-After"))
        return error

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
        token = await self._token()
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        response = await self._request(method, path, headers, body, params)
        if response.status_code == 401 and token is not None:  # refused: nothing happened
            headers["Authorization"] = f"Bearer {await self._token(stale=token)}"
            response = await self._request(method, path, headers, body, params)
        return response

    async def _token(self, *, stale: str | None = None) -> str | None:
        """:meth:`_bearer` before a request: its failure is :class:`_Unsent` (the request
        did not go out, so no write can have happened)."""
        try:
            return await self._bearer(stale=stale)
        except AdminApiError as exc:
            raise _Unsent(exc) from None

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
            raise transport_error(method, path, exc) from None

    async def _bearer(self, *, stale: str | None = None) -> str | None:
        account = self._credential
        if not isinstance(account, ServiceAccount):
            return None
        url = f"{self.base_url}{TOKEN_PATH}"
        return await self._tokens.aget(
            url, account, lambda: self._fetch_token(account), stale=stale, wait=4 * self._timeout
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
            raise transport_error("POST", TOKEN_PATH, exc) from None
        if response.status_code != 200:
            error = self._error(response, "POST", TOKEN_PATH)  # a 429 keeps its Retry-After
            if response.status_code in (400, 401):
                raise AdminAuthenticationError(
                    f"service account {account.client_id!r}: {error}", status=response.status_code
                )
            raise error
        doc = json_of(response)
        token = doc.get("access_token") if isinstance(doc, dict) else None
        if not isinstance(token, str) or not token:
            raise AdminServerError("POST /api/oauth/token answered without an access_token")
        expires_in = doc.get("expires_in", 3600)
        return token, float(expires_in) if isinstance(expires_in, (int, float)) else 3600.0


def _document(response: httpx.Response, method: str, path: str) -> Any:
    """A 2xx answer's JSON document (None when empty). A body that is not JSON is no Atlas
    answer (a proxy's page): :class:`AdminServerError`, handled as a 5xx."""
    if not response.content:
        return None
    doc = json_of(response)
    if doc is None:
        raise AdminServerError(
            f"{method} {path} answered {response.status_code} with a body that is not JSON",
            status=response.status_code,
        )
    return doc


def _never(exc: BaseException) -> bool:
    return False


class _Unsent(Exception):
    """A request that never went out (its token could not be had): ``error`` says why."""

    def __init__(self, error: AdminApiError) -> None:
        super().__init__(str(error))
        self.error = error


def _segment(name: str, what: str) -> str:
    """``name`` as one percent-encoded path segment. ValueError for ``""``, ``.`` and
    ``..``: URL normalization would make them another path (``connections/..`` is the
    workspace itself, and a DELETE there would delete it)."""
    if not isinstance(name, str) or name in ("", ".", ".."):
        raise ValueError(f"{what} must be a name other than '', '.' and '..', not {name!r}")
    return quote(name, safe="")


def _part_file(destination: str | os.PathLike[str]) -> str:
    """A new empty file beside ``destination`` for a download to be written to."""
    folder, name = os.path.split(os.path.abspath(destination))
    handle, part = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    os.close(handle)
    return part


def _open_sink(destination: str) -> BinaryIO:
    """The file a download is written to, emptied (each chunk written is one short local
    write, even under an event loop)."""
    return open(destination, "wb")  # closed by the caller


def _iso(when: datetime.datetime | str) -> str:
    """An ISO 8601 UTC timestamp (``...Z``) from an aware datetime, or the string as given."""
    if isinstance(when, str):
        return when
    if when.tzinfo is None:
        raise ValueError("start_at_operation_time must be timezone-aware")
    return when.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def _epoch(when: datetime.datetime | float | int) -> int:
    """Seconds since the epoch (what the log endpoints take) from an aware datetime or a
    number."""
    if isinstance(when, datetime.datetime):
        if when.tzinfo is None:
            raise ValueError("log start and end datetimes must be timezone-aware")
        return int(when.timestamp())
    return int(when)
