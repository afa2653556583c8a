"""Closing what a resource's ``get_client``/``get_async_client`` made, at run or tick end
(both resources: :class:`~dagster_asp.AspWorkspace`, :class:`~dagster_asp.AspAdmin`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Iterable
from typing import Any, Protocol


class _Closes(Protocol):
    def close(self) -> Any: ...


class _ClosesAsync(Protocol):
    def close(self) -> Awaitable[Any]: ...


def close_clients(
    client: _Closes | None,
    async_clients: Iterable[tuple[_ClosesAsync, asyncio.AbstractEventLoop]],
) -> None:
    """Close ``client`` and each asyncio client in the loop it was made for (when that loop
    is neither closed nor running; a client whose loop is gone has nothing left to close)."""
    if client is not None:
        client.close()
    for async_client, loop in async_clients:
        if not loop.is_closed() and not loop.is_running():
            with contextlib.suppress(Exception):
                loop.run_until_complete(async_client.close())
