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
(:mod:`asp_core.batched_reads`); ``cleanup()`` only gives that share back.
Kwargs hold the connection id, never a secret. Names follow the sensors':
``AspProcessor<What>Trigger``.

Importing this module imports neither pymongo nor the hook.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from asp_core.waiting import conditions, states
from asp_core.waiting.verdict import Reason, Verdict

if TYPE_CHECKING:
    from airflow_provider_asp.hooks.asp import AspHook
    from asp_core.client_pool import ClientLease
    from asp_core.settings import WorkspaceSettings

__all__ = ["AspProcessorSampleTrigger", "AspProcessorStateTrigger", "AspProcessorStatsTrigger"]


class AspBaseTrigger(BaseTrigger):
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
        self._lease: ClientLease | None = None
        self._fired = False

    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs = {
            "processor_name": self.processor_name,
            "end_time": self.end_time,
            "asp_conn_id": self.asp_conn_id,
            "poll_interval": self.poll_interval,
            **self.own_kwargs(),
            **conditions.to_kwargs(self.condition),
        }
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    def own_kwargs(self) -> dict[str, Any]:
        """Kwargs of a subclass beyond the condition's."""
        return {}

    def event_payload(self, verdict: Verdict) -> dict[str, Any]:
        """The event's payload: the verdict (subclasses may add to it)."""
        return verdict.to_event()

    def hook(self) -> AspHook:
        from airflow_provider_asp.hooks.asp import AspHook

        return AspHook(asp_conn_id=self.asp_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Look until the condition is decided or time is up; yield that one event."""
        try:
            verdict = await self._wait()
            self._fired = True
            self.log.info("%s", verdict.message)
            yield TriggerEvent(self.event_payload(verdict))
        finally:
            await self._release()

    async def _wait(self) -> Verdict:
        from asp_core.waiting import asynchronous

        name = self.processor_name
        try:
            self._lease = lease = await self.hook().alease_shared_conn()
        except Exception as exc:
            return _unexpected(name, exc, None)
        try:
            return await asynchronous.wait(
                self.condition,
                lease.processors,
                deadline=self.end_time,
                poll_interval=self.poll_interval,
                command_timeout=lease.settings.command_timeout,
                on_pending=lambda verdict: self.log.info("%s", verdict.message),
            )
        except Exception as exc:
            return _unexpected(name, exc, lease.settings)

    async def _release(self) -> None:
        lease, self._lease = self._lease, None
        if lease is not None:
            await lease.release()

    async def cleanup(self) -> None:
        """Give back this trigger's share of the pooled client; nothing else."""
        await self._release()


def _unexpected(name: str, exc: BaseException, settings: WorkspaceSettings | None) -> Verdict:
    """An error verdict for ``exc``, in plain words and without the password."""
    from asp_core.diagnosis import describe_failure, is_connection_problem
    from asp_core.waiting.verdict import describe_error

    if settings is None:
        return Verdict.failure(name, Reason.ERROR, describe_error(exc))
    if is_connection_problem(exc):
        text = f"Connection {settings.source!r}: {describe_failure(exc, settings)}"
        return Verdict.failure(name, Reason.CONNECTION, settings.scrub(text))
    return Verdict.failure(name, Reason.ERROR, settings.scrub(describe_error(exc)))


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

    def own_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "cancel_on_kill": self.cancel_on_kill,
            "started_by_task": self.started_by_task,
        }
        if self.resume is not None:
            kwargs["resume"] = self.resume
        return kwargs

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
