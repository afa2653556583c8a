"""What both hooks do with the clients they hold: one blocking, one asyncio, and closing them
(``with hook:`` / ``async with hook:``)."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Protocol, Self


class _Closes(Protocol):
    def close(self) -> Any: ...


class HeldClients:
    """Mixin: ``_client`` (closed by :meth:`close`) and ``_async_client`` (closed by
    :meth:`aclose`, with the other)."""

    _client: _Closes | None
    _async_client: _Closes | None

    def close(self) -> None:
        """Close the sync client (the async one needs :meth:`aclose`)."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close both clients."""
        client, self._async_client = self._async_client, None
        if client is not None:
            await client.close()
        self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
