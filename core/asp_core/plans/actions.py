"""The commands that change a processor, each safe to repeat, and the wait that follows.

Every act is resolved by looking, never by guessing: after a network error, a timeout or a
retryable error (the reply is lost, the outcome unknown), the processor is read again; if
it shows the effect, the act succeeded; if not, the command is sent again (each is safe to
repeat: "already exists", "already running", "not running" and "does not exist" are expected
answers). Every command is bounded by what is left of the task's deadline (pymongo's
client-side operation timeout). Waits go through :mod:`asp_core.waiting`, the
same code the sensors and triggers use.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from asp_core.errors import (
    AspProcessorNotFoundError,
    AspUncertainOutcomeError,
    AspWaitTimeoutError,
)
from asp_core.refusals import refusal_error
from asp_core.waiting import states
from asp_core.waiting.conditions import StateCondition
from asp_core.waiting.deadline import command_bound
from asp_core.waiting.verdict import describe_error, info_to_dict, is_transient

if TYPE_CHECKING:
    import datetime
    import logging

    from asp_core.stream_processing import (
        CreateStreamProcessorOptions,
        StartStreamProcessorOptions,
        StreamProcessorInfo,
        StreamProcessors,
    )

#: Sends of one command at most, when each outcome stays uncertain.
MAX_SENDS = 3
#: Reads of a processor at most when each meets a transient error and there is no deadline.
MAX_LOOKS = 5
#: Server codes of the expected answers: already exists / already running (416), not
#: running (125), does not exist (415).
ALREADY_EXISTS, NOT_RUNNING = 416, 125


def is_uncertain(exc: BaseException) -> bool:
    """Whether ``exc`` leaves a command's outcome unknown: a network error, a timeout, or a
    retryable code or label (the command may or may not have taken effect). A command for
    which no server could be selected was never sent: that is certain."""
    return is_transient(exc)


def _code(exc: BaseException) -> int | None:
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) else None


class ProcessorActions:
    """Acts on the processors of one workspace within an absolute ``deadline`` (seconds
    since the epoch; None: only the connection's own timeouts bound each command), each
    command bounded by ``command_timeout`` (the connection's socket timeout) too. ``where``
    names the connection and host in errors (``WorkspaceSettings.where``)."""

    def __init__(
        self,
        processors: StreamProcessors,
        log: logging.Logger | Any,
        *,
        deadline: float | None,
        command_timeout: float | None = None,
        poll_interval: float = 5.0,
        where: str | None = None,
    ) -> None:
        self.processors = processors
        self.where = where
        self.log = log
        self.deadline = deadline
        self.command_timeout = command_timeout
        self.poll_interval = poll_interval

    @contextmanager
    def bounded(self) -> Iterator[None]:
        """Bound the commands sent inside by what is left of the deadline."""
        import pymongo

        with pymongo.timeout(command_bound(self.deadline, self.command_timeout)):
            yield

    # -- reading ------------------------------------------------------------------------
    def find(self, name: str) -> StreamProcessorInfo | None:
        """The processor, or None if it does not exist. A transient error costs a look:
        it is read again after a growing pause, until the deadline (without one: at most
        :data:`MAX_LOOKS` reads)."""
        from tenacity import (
            Retrying,
            retry_if_exception,
            stop_after_attempt,
            stop_before_delay,
            wait_exponential,
        )
        from tenacity.stop import stop_base

        from asp_core.waiting import synchronous

        def looking_again(state: Any) -> None:
            self.log.info("Transient error reading %r, looking again: %s", name, state.outcome)

        stop: stop_base = stop_after_attempt(MAX_LOOKS)
        if self.deadline is not None:
            stop = stop_before_delay(max(self.deadline - time.time(), 0.0))
        retrying = Retrying(
            stop=stop,
            wait=wait_exponential(multiplier=0.1, max=self.poll_interval),
            retry=retry_if_exception(is_transient),
            before_sleep=looking_again,
            reraise=True,
        )
        for attempt in retrying:
            with attempt, self.bounded():
                return synchronous.find(self.processors, name)
        raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover

    def require(self, name: str) -> StreamProcessorInfo:
        """The processor, or AspProcessorNotFoundError."""
        info = self.find(name)
        if info is None:
            raise AspProcessorNotFoundError(name, self.where)
        return info

    def settle(
        self,
        name: str,
        target: str,
        *,
        wait: bool,
        ignore_failure_at: datetime.datetime | None = None,
    ) -> dict[str, Any]:
        """After an act: wait until ``target`` (bounded by the deadline, which a wait
        needs), or look once without waiting. FAILED raises at once either way. Returns the
        processor info."""
        from asp_core.waiting import synchronous

        condition = StateCondition(name, frozenset({target}), ignore_failure_at=ignore_failure_at)
        if not wait:
            info = self.require(name)
            verdict = condition.judge(info)
            if verdict.done:
                return verdict.result(
                    timeout_error=AspWaitTimeoutError, fatal=False, where=self.where
                )
            return info_to_dict(info)
        deadline = self.deadline
        if deadline is None:
            raise ValueError("a wait needs a deadline")
        self.log.info(
            "Waiting up to %.0f s for stream processor %r to be %s (polling every %g s).",
            max(deadline - time.time(), 0),
            name,
            target,
            self.poll_interval,
        )
        verdict = synchronous.wait(
            condition,
            self.processors,
            deadline=deadline,
            poll_interval=self.poll_interval,
            command_timeout=self.command_timeout,
            on_pending=lambda pending: self.log.info("%s", pending.message),
        )
        self.log.info("%s", verdict.message)
        return verdict.result(timeout_error=AspWaitTimeoutError, fatal=False, where=self.where)

    # -- acting -------------------------------------------------------------------------
    def create(
        self,
        name: str,
        pipeline: list[dict[str, Any]],
        options: CreateStreamProcessorOptions | None = None,
    ) -> None:
        """Create the processor (one that exists after all is the effect: created meanwhile,
        or by this very command whose reply was lost)."""
        self.log.info("Creating stream processor %r.", name)
        self._act(
            name,
            "createStreamProcessor",
            lambda: self.processors.create(name, pipeline, options),
            took_effect=lambda info: info is not None,
            expected=lambda exc: _code(exc) == ALREADY_EXISTS,
            refused=lambda exc: refusal_error(name, exc, pipeline),
        )

    def start(
        self,
        name: str,
        before: StreamProcessorInfo | None,
        options: StartStreamProcessorOptions | None,
    ) -> None:
        """Start the processor ("already running" is the expected answer of a repeat);
        ``before`` is the processor as last read, if this task read it."""
        if before is not None and states.is_failed(before.state):
            self.log.warning(
                "Stream processor %r FAILED before (%s, errorCode %s): restarting it.",
                name,
                before.error_msg,
                before.error_code,
            )
        else:
            state = "" if before is None else f" is {before.state}:"
            self.log.info("Stream processor %r%s starting it.", name, state)
        handle = self.processors.get(name)
        self._act(
            name,
            "startStreamProcessor",
            lambda: handle.start(options),
            took_effect=lambda now: now is not None and states.is_running(now.state),
            expected=lambda exc: _code(exc) == ALREADY_EXISTS,
        )

    def stop(self, name: str) -> None:
        """Stop the processor ("not running" is the expected answer of a repeat)."""
        self.log.info("Stopping stream processor %r.", name)
        handle = self.processors.get(name)
        self._act(
            name,
            "stopStreamProcessor",
            handle.stop,
            took_effect=lambda now: now is not None and not states.is_running(now.state),
            expected=lambda exc: _code(exc) == NOT_RUNNING,
        )

    def drop(self, name: str) -> None:
        """Drop the processor (the server stops it first); "does not exist" is the
        expected answer of a repeat."""
        self.log.info("Dropping stream processor %r.", name)
        handle = self.processors.get(name)
        self._act(
            name,
            "dropStreamProcessor",
            handle.drop,
            took_effect=lambda now: now is None,
            expected=states.is_not_found,
        )

    def modify(
        self,
        name: str,
        changes: dict[str, Any],
        shows_change: Callable[[StreamProcessorInfo], bool],
    ) -> str:
        """Apply ``changes`` (``StreamProcessor.modify`` keyword arguments) to a processor
        that is not running; returns its name afterwards (renamed with ``new_name``).
        ``shows_change`` tells whether a processor read after an uncertain outcome has them."""
        self.log.info("Modifying stream processor %r: %s.", name, ", ".join(sorted(changes)))
        handle = self.processors.get(name)
        new_name = changes.get("new_name") or name

        def took_effect(now: StreamProcessorInfo | None) -> bool:
            if new_name != name:
                now = self.find(new_name) if now is None else None
            return now is not None and shows_change(now)

        self._act(
            name,
            "modifyStreamProcessor",
            lambda: handle.modify(**changes),
            took_effect,
            refused=lambda exc: refusal_error(name, exc, changes.get("pipeline")),
        )
        return new_name

    def _act(
        self,
        name: str,
        command: str,
        send: Callable[[], object],
        took_effect: Callable[[StreamProcessorInfo | None], bool],
        expected: Callable[[BaseException], bool] = lambda exc: False,
        refused: Callable[[BaseException], Exception | None] = lambda exc: None,
    ) -> None:
        """Send ``send`` until it answers, or its effect shows after an uncertain outcome;
        at most :data:`MAX_SENDS` sends, never past the deadline. ``refused`` words a
        refusal of what was sent (:mod:`asp_core.refusals`); it is raised in the server's
        place (the server's words are in it)."""
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_before_delay

        left = None if self.deadline is None else max(self.deadline - time.time(), 0.0)
        stop = stop_after_attempt(MAX_SENDS)
        last_state = "unknown"
        retrying = Retrying(
            stop=stop if left is None else stop | stop_before_delay(left),
            retry=retry_if_exception(is_uncertain),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    try:
                        with self.bounded():
                            send()
                        return
                    except Exception as exc:
                        if expected(exc):
                            self.log.info("Stream processor %r: %s; carrying on.", name, exc)
                            return
                        refusal = refused(exc)
                        if refusal is not None:
                            raise refusal from None
                        if not is_uncertain(exc):
                            raise
                        self.log.warning(
                            "%s of %r: no clear answer (%s); looking at the processor.",
                            command,
                            name,
                            describe_error(exc),
                        )
                        seen, now = self._look(name)
                        if seen:
                            last_state = "absent" if now is None else now.state
                            if took_effect(now):
                                self.log.info(
                                    "Stream processor %r is %s: the %s took effect.",
                                    name,
                                    last_state,
                                    command,
                                )
                                return
                        raise
        except Exception as exc:
            if not is_uncertain(exc):
                raise
            raise AspUncertainOutcomeError(
                f"{command} of stream processor {name!r} got no clear answer "
                f"({describe_error(exc)}) and its effect does not show; the processor's last "
                f"known state is {last_state}. It may still take effect."
            ) from exc

    def _look(self, name: str) -> tuple[bool, StreamProcessorInfo | None]:
        """``(True, info or None)`` when the processor could be read, ``(False, None)`` when
        the look itself failed."""
        try:
            return True, self.find(name)
        except Exception as exc:
            self.log.warning("Could not look at stream processor %r: %s", name, exc)
            return False, None
