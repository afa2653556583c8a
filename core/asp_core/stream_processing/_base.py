"""What the sync and async handles share: names, cursor properties, context managers.

No I/O here. :mod:`.asynchronous` (and :mod:`.synchronous`, generated from it) subclass
these and add only the methods that send commands.
"""

from __future__ import annotations

from typing import TypeVar

from asp_core.stream_processing import protocol
from asp_core.stream_processing.sampling import SampleState

_Self = TypeVar("_Self")


class Closing:
    """``with`` support for a class with a ``close()`` method."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncClosing:
    """``async with`` support for a class with an ``async close()`` method."""

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self: _Self) -> _Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class ProcessorHandleBase:
    """A named stream processor; building one sends nothing."""

    def __init__(self, name: str) -> None:
        self._name = protocol.check_name(name)

    @property
    def name(self) -> str:
        """The processor's name."""
        return self._name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name!r})"


class SampleCursorBase:
    """The properties of a sample cursor, read from its :class:`SampleState`."""

    def __init__(self, state: SampleState) -> None:
        self._state = state

    @property
    def name(self) -> str | None:
        """The sampled processor's name (for ``process()``: the server-generated name,
        None until the first fetch)."""
        return self._state.name

    @property
    def cursor_id(self) -> int | None:
        """The server's cursor id: None before the first fetch, 0 once exhausted."""
        return self._state.cursor_id

    @property
    def alive(self) -> bool:
        """Whether more documents may come (buffered, or the cursor is not exhausted)."""
        return self._state.alive

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, cursor_id={self.cursor_id!r})"
