"""Triggers that wait for a stream processor in the triggerer: its state, its sample, its
stats. The deferrable sensors and lifecycle operators defer to them.

Each trigger waits for the condition its sensor uses (:mod:`asp_core.waiting`)
with :func:`asp_core.waiting.asynchronous.wait`, the code the operators' and
sensors' waits in the worker are generated from: a look every ``poll_interval`` seconds until
the condition is decided or ``end_time`` passes, each command bounded by what is left of it;
then it yields exactly one event and returns. Transient errors (network, retryable codes)
only cost a look. Triggers of one connection share one pooled client in the triggerer
(:meth:`AspHook.alease_shared_conn`), and their reads of processors share its rounds: one
``listStreamProcessors`` for the looks that come together
(:mod:`asp_core.batched_reads`); ``cleanup()`` only gives that share back
(:class:`~airflow_provider_asp.triggers.base.AspTrigger`, the base of every trigger here).
Kwargs hold the connection id, never a secret. Names follow the sensors':
``AspProcessor<What>Trigger``.

Importing this module imports neither pymongo nor the hook.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

from airflow.triggers.base import TriggerEvent

from airflow_provider_asp.triggers.base import AspTrigger
from asp_core.waiting import conditions, states
from asp_core.waiting.verdict import Reason, Verdict

__all__ = ["AspProcessorSampleTrigger", "AspProcessorStateTrigger", "AspProcessorStatsTrigger"]


class AspBaseTrigger(AspTrigger):
    """Polls one condition of one processor until it is decided or time is up.

    :param processor_name: the stream processor.
    :param end_time: when the wait ends, in seconds since the epoch (absolute, so a
        trigger resumed by another triggerer keeps the same deadline).
    :param asp_conn_id: the ``asp`` connection.
    :param poll_interval: seconds between two looks at most (the pause is 90-100 % of it).
    :param condition: the fields of :attr:`condition_class` as JSON values
        (:func:`~asp_core.waiting.conditions.to_kwargs`).
    """

    condition_class: ClassVar[type[Any]]
    serialized: ClassVar[tuple[str, ...]] = (
        "processor_name",
        "end_time",
        "asp_conn_id",
        "poll_interval",
    )

    def __init__(
        self,
        *,
        processor_name: str,
        end_time: float,
        asp_conn_id: str = "asp_default",
        poll_interval: float = 5.0,
        **condition: Any,
    ) -> None:
        super().__init__()
        self.processor_name = processor_name
        self.end_time = float(end_time)
        self.asp_conn_id = asp_conn_id
        self.poll_interval = float(poll_interval)
        self.condition: conditions.Condition = conditions.from_kwargs(
            self.condition_class, processor_name, condition
        )
        self._fired = False

    def more_kwargs(self) -> dict[str, Any]:
        """The condition's fields as JSON values."""
        return conditions.to_kwargs(self.condition)

    def event_payload(self, verdict: Verdict) -> dict[str, Any]:
        """The event's payload: the verdict (subclasses may add to it)."""
        return verdict.to_event()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Look until the condition is decided or time is up; yield that one event."""
        try:
            verdict = await self._wait()
            self._fired = True
            self.log.info("%s", verdict.message)
            yield TriggerEvent(self.event_payload(verdict))
        finally:
            await self.release()

    async def _wait(self) -> Verdict:
        from asp_core.waiting import asynchronous

        try:
            lease = await self.lease()
            return await asynchronous.wait(
                self.condition,
                lease.processors,
                deadline=self.end_time,
                poll_interval=self.poll_interval,
                command_timeout=lease.settings.command_timeout,
                on_pending=lambda verdict: self.log.info("%s", verdict.message),
            )
        except Exception as exc:
            return self._unexpected(exc)

    def _unexpected(self, exc: BaseException) -> Verdict:
        """An error verdict for ``exc``, in plain words and without the password."""
        from asp_core.waiting.verdict import describe_error

        name, settings = self.processor_name, self.settings
        problem = self.connection_problem(exc)
        if problem is not None:
            return Verdict.connection_failure(name, exc, problem)
        text = describe_error(exc)
        return Verdict.failure(
            name, Reason.ERROR, text if settings is None else settings.scrub(text)
        )


class AspProcessorStateTrigger(AspBaseTrigger):
    """Waits until the processor is in one of ``target_states``
    (:class:`~asp_core.waiting.conditions.StateCondition`: ``target_states``,
    ``failure_states``, ``missing_ok``, ``ignore_failure_at``).

    :param cancel_on_kill: stop the processor when the user kills the deferred task
        (Airflow 3.3+ calls :meth:`on_kill`; older versions never stop it).
    :param started_by_task: the deferred task started the processor (only then is it
        stopped on kill).
    :param resume: where the deferred task resumes (JSON), echoed in the event under
        ``"resume"``: the task needs it however its deferral's kwargs travel (``dag.test()``
        hands the task the event alone).
    """

    condition_class = conditions.StateCondition
    serialized = (*AspBaseTrigger.serialized, "cancel_on_kill", "started_by_task")

    def __init__(
        self,
        *,
        cancel_on_kill: bool = False,
        started_by_task: bool = False,
        resume: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cancel_on_kill = cancel_on_kill
        self.started_by_task = started_by_task
        self.resume = resume

    def more_kwargs(self) -> dict[str, Any]:
        resume = {} if self.resume is None else {"resume": self.resume}
        return {**resume, **super().more_kwargs()}

    def event_payload(self, verdict: Verdict) -> dict[str, Any]:
        payload = super().event_payload(verdict)
        return payload if self.resume is None else {**payload, "resume": self.resume}

    async def on_kill(self) -> None:
        """The user killed the deferred task (Airflow 3.3+): stop the processor if this
        task started it and ``cancel_on_kill`` is set, unless the wait was already over."""
        if not (self.cancel_on_kill and self.started_by_task) or self._fired:
            return
        name = self.processor_name
        from asp_core.waiting import asynchronous

        lease = await self.hook().alease_shared_conn()
        try:
            info = await asynchronous.find(lease.processors, name)
            settled = states.IDLE_STATES | states.FAILURE_STATES
            if info is not None and states.normalize_state(info.state) not in settled:
                self.log.info("Task killed: stopping stream processor %r, which it started.", name)
                await lease.processors.get(name).stop()
        except Exception as exc:
            self.log.warning("Could not stop stream processor %r: %s", name, exc)
        finally:
            await lease.release()


class AspProcessorSampleTrigger(AspBaseTrigger):
    """Waits until one sample of the processor has ``min_documents`` matching documents
    (:class:`~asp_core.waiting.conditions.SampleCondition`: ``min_documents``,
    ``match``, ``check_fn`` as a dotted path, ``limit``, ``sample_timeout``)."""

    condition_class = conditions.SampleCondition


class AspProcessorStatsTrigger(AspBaseTrigger):
    """Waits until the processor's stats meet the thresholds
    (:class:`~asp_core.waiting.conditions.StatsCondition`: ``min_output_messages``,
    ``min_input_messages``, ``max_dlq_messages``, ``check_fn`` as a dotted path)."""

    condition_class = conditions.StatsCondition
