"""Lifecycle commands with their state checks and bounded waits, for the operators.

Each action looks at the processor first and acts only if needed, so a retried task
never repeats a command that already took effect. Every step is logged in plain words.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow_provider_asp import lifecycle
from airflow_provider_asp.exceptions import AspProcessorNotFoundError

if TYPE_CHECKING:
    import datetime

    from airflow_provider_asp.stream_processing import (
        CreateStreamProcessorOptions,
        StartStreamProcessorOptions,
        StreamProcessorInfo,
        StreamProcessors,
    )


class ProcessorActions:
    """Start, stop, create, modify and drop processors of one workspace.

    :param wait_timeout: seconds a wait for a state may take.
    :param poll_interval: seconds between two reads while waiting.
    """

    def __init__(
        self,
        processors: StreamProcessors,
        log: lifecycle.StepLogger,
        *,
        wait_timeout: float,
        poll_interval: float,
    ) -> None:
        self.processors = processors
        self.log = log
        self.wait_timeout = wait_timeout
        self.poll_interval = poll_interval

    # -- reading ------------------------------------------------------------------------
    def find(self, name: str) -> StreamProcessorInfo | None:
        """The processor, or None if it does not exist."""
        return lifecycle.find(self.processors, name)

    def require(self, name: str) -> StreamProcessorInfo:
        """The processor, or AspProcessorNotFoundError."""
        info = self.find(name)
        if info is None:
            raise AspProcessorNotFoundError(name)
        return info

    def settle(
        self,
        name: str,
        target: str,
        *,
        wait: bool,
        ignore_failure_at: datetime.datetime | None = None,
    ) -> StreamProcessorInfo:
        """After an action: wait until ``target`` (bounded), or read once without waiting.
        FAILED raises at once either way."""

        def read() -> StreamProcessorInfo:
            return self.require(name)

        if not wait:
            info = read()
            outcome = lifecycle.evaluate(info, target, ignore_failure_at)
            if outcome is lifecycle.Outcome.FAILED:
                raise lifecycle.failure_error(info)
            return info
        self.log.info(
            "Waiting up to %g s for stream processor %r to be %s (polling every %g s).",
            self.wait_timeout,
            name,
            target,
            self.poll_interval,
        )
        info = lifecycle.wait_for_state(
            read,
            target,
            timeout=self.wait_timeout,
            poll_interval=self.poll_interval,
            ignore_failure_at=ignore_failure_at,
            log=self.log,
        )
        self.log.info("Stream processor %r is %s.", name, info.state)
        return info

    # -- acting -------------------------------------------------------------------------
    def create(
        self,
        name: str,
        pipeline: list[dict[str, Any]],
        options: CreateStreamProcessorOptions,
    ) -> bool:
        """Create the processor; False if one of that name exists after all (created
        meanwhile, or by this very command whose reply was lost)."""
        self.log.info("Creating stream processor %r.", name)
        return self._send(
            name, lambda: self.processors.create(name, pipeline, options), lambda i: i is not None
        )

    def start(
        self,
        info: StreamProcessorInfo,
        options: StartStreamProcessorOptions | None,
        *,
        wait: bool,
    ) -> StreamProcessorInfo:
        """Start the processor unless it runs already."""
        if lifecycle.is_running(info.state):
            self.log.info(
                "Stream processor %r is already %s: not starting it.", info.name, info.state
            )
            return info
        if lifecycle.is_failed(info.state):
            self.log.warning(
                "Stream processor %r FAILED before (%s, errorCode %s): restarting it.",
                info.name,
                info.error_msg,
                info.error_code,
            )
        else:
            self.log.info("Stream processor %r is %s: starting it.", info.name, info.state)
        handle = self.processors.get(info.name)
        self._send(info.name, lambda: handle.start(options), _running)
        stale = lifecycle.stale_failure_at(info)
        return self.settle(info.name, lifecycle.STARTED, wait=wait, ignore_failure_at=stale)

    def stop(self, info: StreamProcessorInfo, *, wait: bool) -> StreamProcessorInfo:
        """Stop the processor if it runs; a processor not running is left as it is."""
        if not lifecycle.is_running(info.state):
            if lifecycle.is_failed(info.state):
                self.log.warning(
                    "Stream processor %r is FAILED (%s), so not running: nothing to stop.",
                    info.name,
                    info.error_msg,
                )
            else:
                self.log.info("Stream processor %r is %s: nothing to stop.", info.name, info.state)
            return info
        self.log.info("Stopping stream processor %r.", info.name)
        handle = self.processors.get(info.name)
        self._send(info.name, handle.stop, _not_running)
        return self.settle(info.name, lifecycle.STOPPED, wait=wait)

    def drop(self, name: str) -> bool:
        """Drop the processor (the server stops it first); False if it did not exist."""
        self.log.info("Dropping stream processor %r.", name)
        try:
            self.processors.get(name).drop()
        except Exception as exc:
            if lifecycle.is_not_found(exc):
                self.log.info("Stream processor %r does not exist: nothing to drop.", name)
                return False
            if not self._shows(name, lambda info: info is None):
                raise
            self.log.info("Stream processor %r: %s; it is gone, carrying on.", name, exc)
        return True

    def modify(
        self,
        info: StreamProcessorInfo,
        changes: dict[str, Any],
        *,
        restart: bool,
    ) -> StreamProcessorInfo:
        """Apply ``changes`` (``StreamProcessor.modify`` keyword arguments): a running
        processor is stopped first and, with ``restart``, started again afterwards, also
        when the change is refused (then with its old definition)."""
        was_running = lifecycle.is_running(info.state)
        self.stop(info, wait=True)
        handle = self.processors.get(info.name)
        self.log.info("Modifying stream processor %r: %s.", info.name, ", ".join(sorted(changes)))
        try:
            handle.modify(**changes)
        except Exception:
            if was_running and restart:
                self.log.warning("Modify refused: restarting %r as it was.", info.name)
                self._restart_quietly(info.name)
            raise
        if not (was_running and restart):
            return self.require(handle.name)
        self.log.info("Restarting stream processor %r, which was running.", handle.name)
        handle.start()
        return self.settle(handle.name, lifecycle.STARTED, wait=True)

    def _send(
        self,
        name: str,
        command: Callable[[], object],
        took_effect: Callable[[StreamProcessorInfo | None], bool],
    ) -> bool:
        """Send ``command``: True if it succeeded; False if it raised but the processor
        shows its effect anyway (a lost reply, or another caller did the same); else the
        error is raised."""
        try:
            command()
        except Exception as exc:
            if not self._shows(name, took_effect):
                raise
            self.log.info("Stream processor %r: %s; the change is there, carrying on.", name, exc)
            return False
        return True

    def _shows(self, name: str, took_effect: Callable[[StreamProcessorInfo | None], bool]) -> bool:
        try:
            return took_effect(self.find(name))
        except Exception:
            return False

    def _restart_quietly(self, name: str) -> None:
        try:
            self.processors.get(name).start()
        except Exception as exc:
            self.log.error("Could not restart stream processor %r: %s", name, exc)


def _running(info: StreamProcessorInfo | None) -> bool:
    return info is not None and lifecycle.is_running(info.state)


def _not_running(info: StreamProcessorInfo | None) -> bool:
    return info is not None and not lifecycle.is_running(info.state)
