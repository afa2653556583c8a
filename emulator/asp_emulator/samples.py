"""Sample buffers: the server side of sample cursors.

``startSampleStreamProcessor`` opens a :class:`SampleBuffer` on a running processor; every
output document is appended to it; ``getMoreSampleStreamProcessor`` takes batches from it
by its id (the protocol's ``cursorId``). When the processor stops, fails or is dropped, the
buffer *ends*: it still delivers what it holds, then answers ``cursorId: 0``.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

BUFFER_SIZE = 10_000
"""Documents a sample buffer holds for its reader; older ones are dropped."""
IDLE_SECONDS = 600.0
"""A sample buffer nobody reads for this long is forgotten."""
DEFAULT_BATCH = 1_000
"""Documents per getMore reply when the client gives no ``batchSize``."""


@dataclass
class SampleBuffer:
    """A tap on one processor's output, read in batches."""

    id: int
    processor: str
    limit: int | None
    documents: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=BUFFER_SIZE))
    delivered: int = 0
    ended: bool = False
    last_read: float = field(default_factory=time.monotonic)

    def push(self, doc: dict[str, Any]) -> None:
        """A document came out of the processor."""
        if not self.ended and (
            self.limit is None or self.delivered + len(self.documents) < self.limit
        ):
            self.documents.append(doc)

    def take(self, batch_size: int | None) -> tuple[list[dict[str, Any]], bool]:
        """The next batch, and whether the buffer is exhausted after it."""
        self.last_read = time.monotonic()
        size = batch_size or DEFAULT_BATCH
        if self.limit is not None:
            size = min(size, self.limit - self.delivered)
        batch = [self.documents.popleft() for _ in range(min(size, len(self.documents)))]
        self.delivered += len(batch)
        limit_reached = self.limit is not None and self.delivered >= self.limit
        return batch, limit_reached or (self.ended and not self.documents)


class SampleBuffers:
    """Every open sample buffer of a workspace, by id."""

    def __init__(self) -> None:
        self._buffers: dict[int, SampleBuffer] = {}

    def __len__(self) -> int:
        return len(self._buffers)

    def open(
        self, processor: str, limit: int | None, replay: Iterable[dict[str, Any]]
    ) -> SampleBuffer:
        """A new buffer on ``processor``, first holding the ``replay`` documents."""
        self.expire()
        buffer_id = secrets.randbits(52) or 1  # exact as a double, for JavaScript clients
        while buffer_id in self._buffers:
            buffer_id = secrets.randbits(52) or 1
        buffer = SampleBuffer(buffer_id, processor, limit or None)
        for doc in replay:
            buffer.push(doc)
        self._buffers[buffer_id] = buffer
        return buffer

    def get(self, buffer_id: int) -> SampleBuffer | None:
        """The buffer with this id, if it is open."""
        return self._buffers.get(buffer_id)

    def close(self, buffer: SampleBuffer) -> None:
        """Forget ``buffer`` (it was read to its end)."""
        self._buffers.pop(buffer.id, None)

    def expire(self) -> list[SampleBuffer]:
        """Forget the buffers nobody read for :data:`IDLE_SECONDS`; returns them."""
        deadline = time.monotonic() - IDLE_SECONDS
        stale = [b for b in self._buffers.values() if b.last_read < deadline]
        for buffer in stale:
            del self._buffers[buffer.id]
        return stale
