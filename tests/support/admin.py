"""What the Admin API tests of the provider share: the requests the emulated Admin API
received during a block (by ``"METHOD route"``), and an action run once a request has been
received ``n`` more times ("mid-wait": after the waiting code saw the condition pending)."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from asp_emulator import Workspace

WRITES = ("POST", "PATCH", "DELETE")


@dataclass
class Requests:
    """The requests received between the start of a block and :meth:`update`."""

    ws: Workspace
    before: dict[str, int]
    seen: collections.Counter[str] = field(default_factory=collections.Counter)

    def update(self) -> Requests:
        after = self.ws.admin_request_counts()
        self.seen = collections.Counter(
            {k: v - self.before.get(k, 0) for k, v in after.items() if v > self.before.get(k, 0)}
        )
        return self

    @property
    def writes(self) -> dict[str, int]:
        """Writes (token requests left out)."""
        return {k: v for k, v in self.seen.items() if k.split()[0] in WRITES and k != "POST token"}

    @property
    def total(self) -> int:
        """Every request but token requests."""
        return sum(v for k, v in self.seen.items() if k != "POST token")


@contextmanager
def requests(ws: Workspace) -> Iterator[Requests]:
    """The Admin API requests received during the block (read after it)."""
    seen = Requests(ws, ws.admin_request_counts())
    try:
        yield seen
    finally:
        seen.update()


@contextmanager
def after_requests(
    ws: Workspace, key: str, n: int, action: Callable[[], Any], timeout: float = 60.0
) -> Iterator[None]:
    """Run ``action`` (in a thread) once ``key`` (``"GET connection"``) has been received
    ``n`` more times, within ``timeout``; the block's end waits for the thread."""
    start = ws.admin_request_counts().get(key, 0)
    done = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while not done.is_set() and time.monotonic() < deadline:
            if ws.admin_request_counts().get(key, 0) >= start + n:
                action()
                return
            done.wait(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout)
