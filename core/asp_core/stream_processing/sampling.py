"""The sample cursor as a pure state machine: it says what to send next, and when.

ASP's sample protocol is not a standard cursor. The first fetch sends an *opening*
command (``startSampleStreamProcessor``, or ``processStreamProcessor`` for an ephemeral
processor) that answers with a cursor id (and maybe a first batch); further fetches send
``getMoreSampleStreamProcessor`` with that id. ``cursorId: 0`` ends the cursor and no
command follows. A live cursor may answer with empty batches for a while: the state asks
for a growing pause (:class:`Backoff`) before each re-poll.

:class:`SampleState` holds no connection, no clock and never sleeps. The executors in
:mod:`.asynchronous` and :mod:`.synchronous` loop over :meth:`SampleState.next_send`: wait
``send.wait`` seconds, send ``send.command`` (whose parser feeds the reply back into the
state) bounded by ``send.deadline``, and stop when it returns None; then they hand out
buffered documents. A command that runs out of time ends the round through
:meth:`SampleState.expire`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo.errors import InvalidOperation, ProtocolError, PyMongoError

from asp_core.stream_processing import protocol
from asp_core.stream_processing.options import (
    GetStreamProcessorSamplesOptions,
    check_count,
)
from asp_core.stream_processing.protocol import Command, Document, Reply

__all__ = ["Backoff", "Round", "SampleCursorTimeout", "SampleState", "Send"]


class SampleCursorTimeout(PyMongoError):
    """A sample cursor's ``timeout`` (an overall deadline) passed while it needed to fetch.

    The deadline also bounds each command the cursor sends (a ``pymongo.timeout`` block):
    when it runs out during one, this is raised from pymongo's timeout error. Past the
    deadline the cursor sends no further command: iteration, ``try_next()`` and
    ``next_batch()`` raise this, ``to_list()`` returns what it has. The cursor is not
    closed (a ``process()`` cursor still drops its processor on ``close()``).
    """

    @property
    def timeout(self) -> bool:
        return True


@dataclass(frozen=True)
class Backoff:
    """Pause between polls that return an empty batch: ``initial`` seconds after the first
    empty batch, multiplied by ``factor`` after each further one, at most ``maximum``.
    A non-empty batch resets it."""

    initial: float = 0.05
    maximum: float = 1.0
    factor: float = 2.0

    def __post_init__(self) -> None:
        if not (0 <= self.initial <= self.maximum and math.isfinite(self.maximum)):
            raise InvalidOperation("backoff needs 0 <= initial <= maximum < inf")
        if self.factor < 1:
            raise InvalidOperation("backoff factor must be >= 1")

    def delay(self, empty_polls: int) -> float:
        """The pause before the next poll after ``empty_polls`` empty batches in a row."""
        if empty_polls <= 0:
            return 0.0
        # the exponent is capped: 2.0 ** 1024 overflows a float after ~1,000 empty polls
        return float(min(self.maximum, self.initial * self.factor ** min(empty_polls - 1, 60)))


@dataclass(frozen=True)
class Send:
    """Next step of a cursor: wait ``wait`` seconds, then send ``command``, which must be
    done by ``deadline`` (a ``time.monotonic()`` reading; None: the cursor sets none)."""

    command: Command[None]
    wait: float = 0.0
    deadline: float | None = None


def check_timeout(timeout: float | None) -> None:
    """Raise InvalidOperation unless ``timeout`` is None or a number of seconds >= 0."""
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout >= 0):
        raise InvalidOperation(f"timeout must be a non-negative number of seconds, not {timeout!r}")


@dataclass(frozen=True)
class Round:
    """What a round of sends is for (the executor sends until :meth:`SampleState.next_send`
    says stop).

    :param want: stop once this many documents are buffered (None: only exhaustion or a
        deadline stops the round).
    :param deadline: the caller's own deadline (a ``time.monotonic()`` reading).
    :param raise_on_expiry: past a deadline, raise :class:`SampleCursorTimeout` instead of
        ending the round.
    :param wait: back off between empty polls; without it the round ends after the first
        empty poll and never waits.
    """

    want: int | None = 1
    deadline: float | None = None
    raise_on_expiry: bool = True
    wait: bool = True

    @classmethod
    def to_list(cls, length: int | None, timeout: float | None, now: float) -> Round:
        """The round of ``to_list(length, timeout)``: never raises on time, returns."""
        check_count("length", length, minimum=0)
        check_timeout(timeout)
        deadline = None if timeout is None else now + timeout
        return cls(want=length, deadline=deadline, raise_on_expiry=False)


#: The round of ``next()``: one document, waiting as long as the cursor's timeout allows.
NEXT = Round()
#: The round of ``try_next()``/``next_batch()``: what one poll brings, without waiting.
POLL = Round(wait=False)


class SampleState:
    """Where a sample cursor is: opening, polling, exhausted or closed; plus its buffer.

    Build it with :meth:`sample`, :meth:`process` or :meth:`fetch`.

    - ``limit`` (when positive) also caps the documents delivered client-side: once
      ``limit`` documents arrived the cursor is exhausted, whatever the server's cursor id.
    - ``timeout`` is an overall deadline in seconds, counted from the first fetch: past it
      no further command is sent and the cursor's iteration raises
      :class:`SampleCursorTimeout` when it would need one.
    """

    def __init__(
        self,
        *,
        name: str | None,
        opening: Document | None = None,
        cursor_id: int | None = None,
        limit: int | None = None,
        batch_size: int | None = None,
        backoff: Backoff | None = None,
        timeout: float | None = None,
        ephemeral: bool = False,
    ) -> None:
        check_timeout(timeout)
        self._name = name
        self._opening = opening
        self._cursor_id = cursor_id
        self._batch_size = batch_size
        self._remaining = limit or None
        self._backoff = backoff or Backoff()
        self._timeout = timeout
        self._deadline: float | None = None
        self._ephemeral = ephemeral
        self._dropped = False
        self._buffer: deque[dict[str, Any]] = deque()
        self._empty_polls = 0
        self._done = False
        self._closed = False

    # -- constructors -------------------------------------------------------------------
    @classmethod
    def sample(
        cls,
        name: str,
        limit: int | None = None,
        batch_size: int | None = None,
        *,
        backoff: Backoff | None = None,
        timeout: float | None = None,
    ) -> SampleState:
        """A cursor over a processor's output: opens with ``startSampleStreamProcessor``."""
        check_count("batch_size", batch_size, minimum=0)
        return cls(
            name=name,
            opening=protocol.start_sample(name, limit),
            limit=limit,
            batch_size=batch_size,
            backoff=backoff,
            timeout=timeout,
        )

    @classmethod
    def process(
        cls,
        pipeline: Sequence[Mapping[str, Any]],
        limit: int | None = None,
        dlq: Mapping[str, Any] | None = None,
        batch_size: int | None = None,
        *,
        backoff: Backoff | None = None,
        timeout: float | None = None,
    ) -> SampleState:
        """A cursor over an ephemeral processor: opens with ``processStreamProcessor``, reads
        with the name the server generated, and drops that processor when closed."""
        check_count("batch_size", batch_size, minimum=0)
        return cls(
            name=None,
            opening=protocol.process(pipeline, limit, dlq),
            limit=limit,
            batch_size=batch_size,
            backoff=backoff,
            timeout=timeout,
            ephemeral=True,
        )

    @classmethod
    def fetch(cls, name: str, options: GetStreamProcessorSamplesOptions | None) -> SampleState:
        """The state of one ``get_stream_processor_samples`` call: opens a cursor (no
        ``cursor_id``) or continues the given one (an explicit 0 is refused)."""
        opts = options or GetStreamProcessorSamplesOptions()
        protocol.check_name(name)
        if opts.cursor_id is None:
            return cls.sample(name, opts.limit, opts.batch_size)
        if opts.cursor_id == 0:
            raise InvalidOperation("cursor_id 0 is an exhausted sample cursor: nothing to fetch")
        return cls(name=name, cursor_id=opts.cursor_id, batch_size=opts.batch_size)

    # -- what the executor asks ---------------------------------------------------------
    @property
    def name(self) -> str | None:
        """The processor sampled (for an ephemeral one: None until the server named it)."""
        return self._name

    @property
    def cursor_id(self) -> int | None:
        """The server's cursor id (None before the opening reply; 0 once exhausted)."""
        return self._cursor_id

    @property
    def alive(self) -> bool:
        """Whether more documents may come: open, and either buffered or not exhausted."""
        return not self._closed and (bool(self._buffer) or not self._done)

    def next_send(self, now: float, goal: Round = NEXT, sent: bool = False) -> Send | None:
        """The next command to send in a round for ``goal``, or None to end the round.

        ``now`` is a ``time.monotonic()`` reading; ``sent`` says whether this round sent a
        command already. None once ``goal.want`` documents are buffered, or the cursor is
        exhausted or closed, or (``goal.wait`` off) a poll of this round came back empty,
        or a deadline passed (the goal's, or the cursor's ``timeout``), unless
        ``goal.raise_on_expiry``: then :class:`SampleCursorTimeout`. The send's
        ``deadline`` is the nearer of those two; its ``wait`` ends by it.
        """
        enough = goal.want is not None and len(self._buffer) >= goal.want
        if enough or self._closed or self._done:
            return None
        if self._timeout is not None and self._deadline is None:
            self._deadline = now + self._timeout
        limits = [d for d in (self._deadline, goal.deadline) if d is not None]
        limit = min(limits) if limits else None
        if limit is not None and now >= limit:
            self.expire(goal)
            return None
        if self._opening is not None:
            return Send(Command(self._opening, self._receive_opening), deadline=limit)
        if not goal.wait and sent and self._empty_polls:
            return None
        delay = self._backoff.delay(self._empty_polls) if goal.wait else 0.0
        if limit is not None:
            delay = min(delay, limit - now)
        assert self._name is not None, "an opened cursor has a processor name"
        assert self._cursor_id is not None, "an opened cursor has a cursor id"
        get_more = protocol.get_more_sample(self._name, self._cursor_id, self._batch_size)
        return Send(Command(get_more, self._receive_batch), delay, limit)

    def expire(self, goal: Round, cause: BaseException | None = None) -> None:
        """A deadline of this round passed, before a send or while it ran (``cause``: the
        driver's timeout error). Raise :class:`SampleCursorTimeout` (from ``cause``) when
        ``goal.raise_on_expiry``; else return, and the round ends."""
        if goal.raise_on_expiry:
            raise SampleCursorTimeout(
                f"sample cursor of {self._name!r} passed its {self._timeout} s timeout"
            ) from cause

    @property
    def buffer(self) -> deque[dict[str, Any]]:
        """The documents received and not yet handed out, oldest first (executors pop from
        its left)."""
        return self._buffer

    def take(self, count: int | None = None) -> list[dict[str, Any]]:
        """Remove and return up to ``count`` buffered documents (all without ``count``)."""
        buffer = self._buffer
        if count is None or count >= len(buffer):
            documents = list(buffer)
            buffer.clear()
            return documents
        return [buffer.popleft() for _ in range(count)]

    def pop(self) -> dict[str, Any] | None:
        """The next buffered document, or None."""
        return self._buffer.popleft() if self._buffer else None

    def release(self) -> Command[None] | None:
        """Once an ephemeral processor's cursor is exhausted (or closed): the command that
        drops the processor, returned once; its errors are to be ignored. Else None."""
        finished = self._done or self._closed
        if not self._ephemeral or self._dropped or self._name is None or not finished:
            return None
        self._dropped = True
        return protocol.drop(self._name)

    def close(self) -> Command[None] | None:
        """Close the cursor locally (buffered documents are discarded); then
        :meth:`release`."""
        self._closed = True
        self._buffer.clear()
        return self.release()

    # -- replies ------------------------------------------------------------------------
    def _receive_opening(self, reply: Reply) -> None:
        if self._ephemeral:
            name = reply.get("name")
            if not isinstance(name, str) or not name:
                raise ProtocolError("processStreamProcessor reply has no processor name")
            self._name = name
        self._opening = None
        self._accept(reply, protocol.OPENING_BATCH_KEYS, count_empty=False)

    def _receive_batch(self, reply: Reply) -> None:
        self._accept(reply, protocol.GET_MORE_BATCH_KEYS, count_empty=True)

    def _accept(self, reply: Reply, keys: Sequence[str], *, count_empty: bool) -> None:
        self._cursor_id = protocol.parse_cursor_id(reply)
        docs = protocol.parse_batch(reply, keys)
        if self._remaining is not None:
            docs = docs[: self._remaining]
            self._remaining -= len(docs)
        if docs:
            self._empty_polls = 0
        elif count_empty:
            self._empty_polls += 1
        self._buffer.extend(docs)
        self._done = self._cursor_id == 0 or self._remaining == 0
