"""A process-wide hook on the emulated Admin API: every request it answers, with its answer,
handed to the callbacks that :func:`observe` registered (a test session's OpenAPI check).

Nothing is recorded while no callback is registered. Callbacks run in the event loop's
thread of the workspace that answered: they must be quick (append and return).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Exchange:
    """One request and the response it got (the body as sent; ``None`` when streamed)."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    request_headers: dict[str, str] = field(repr=False)
    status: int
    response_headers: dict[str, str] = field(repr=False)
    response_body: bytes | None = field(repr=False)
    #: the aiohttp route's name (``None`` when no route matched)
    route: str | None = None


Observer = Callable[[Exchange], None]
_lock = threading.Lock()
_observers: list[Observer] = []


def observe(callback: Observer) -> Callable[[], None]:
    """Hand every Admin API exchange of this process to ``callback`` from now on; returns
    the function that stops it."""
    with _lock:
        _observers.append(callback)

    def stop() -> None:
        with _lock:
            if callback in _observers:
                _observers.remove(callback)

    return stop


def observing() -> bool:
    """Whether any callback is registered (otherwise nothing is recorded)."""
    return bool(_observers)


def notify(exchange: Exchange) -> None:
    """Hand ``exchange`` to every registered callback."""
    with _lock:
        callbacks = list(_observers)
    for callback in callbacks:
        callback(exchange)
