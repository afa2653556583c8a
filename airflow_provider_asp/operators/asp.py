"""Operators for the whole life of an Atlas Stream Processing processor.

Names follow one pattern: an operator is a verb on a processor (``Asp<Verb>ProcessorOperator``;
``AspGetProcessorStatsOperator`` reads its stats). Each lifecycle operator states its plan
from what exists (:mod:`~asp_core.plans.plan`) and what its steps are carried out with; the
core's runner carries it out (:class:`~airflow_provider_asp.operators.base.AspLifecycleOperator`),
so a retried task never repeats a command that already took effect. Importing this module imports
neither pymongo nor the hook, and touches no connection; arguments are checked after
templating and before any client exists. Return values are plain JSON (BSON types converted).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_asp.operators.base import AspBaseOperator, AspLifecycleOperator
from airflow_provider_asp.operators.lineage import AspLineageMixin
from asp_core import arguments
from asp_core.errors import (
    AspInputError,
    AspProcessorNotFoundError,
)
from asp_core.jsonable import to_jsonable
from asp_core.plans.lifecycle import (
    Found,
    definition_inputs,
    deployed,
    plan_deploy,
    plan_drop,
    plan_start,
    plan_stop,
)
from asp_core.plans.plan import (
    IF_EXISTS_POLICIES,
    Plan,
    ProcessorDefinition,
    create_plan,
    modify_plan,
)
from asp_core.plans.runner import StepInputs
from asp_core.waiting import states
from asp_core.waiting.verdict import failure_error

if TYPE_CHECKING:
    from asp_core.plans.actions import ProcessorActions
    from asp_core.plans.runner import Done
    from asp_core.stream_processing import StreamProcessorInfo

__all__ = [
    "AspCreateProcessorOperator",
    "AspDeployProcessorOperator",
    "AspDropProcessorOperator",
    "AspGetProcessorStatsOperator",
    "AspModifyProcessorOperator",
    "AspSampleProcessorOperator",
    "AspStartProcessorOperator",
    "AspStopProcessorOperator",
]


class AspDefinitionOperator(AspLifecycleOperator):
    """An operator given a whole processor definition (create, deploy).

    :param pipeline: the stages, as a list or a JSON string (templated, rendered as JSON).
    :param dlq: dead letter queue ``{connectionName, db, coll}``, a document or JSON string
        (templated); ``{}`` for none.
    :param tier: processor tier (SP2 ... SP50).
    :param stream_meta_field_name: name of the stream metadata field (set at creation only).
    :param failover: enable failover (set at creation only).
    """

    template_fields: Sequence[str] = (
        *AspBaseOperator.template_fields,
        "pipeline",
        "dlq",
        "tier",
        "stream_meta_field_name",
    )
    template_fields_renderers = {"pipeline": "json", "dlq": "json"}

    def __init__(
        self,
        *,
        pipeline: list[dict[str, Any]] | str,
        dlq: dict[str, Any] | str | None = None,
        tier: str | None = None,
        stream_meta_field_name: str | None = None,
        failover: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pipeline = pipeline
        self.dlq = dlq
        self.tier = tier
        self.stream_meta_field_name = stream_meta_field_name
        self.failover = failover

    def inputs(self) -> StepInputs:
        """The checked definition, and the options to create it with."""
        return definition_inputs(
            self.pipeline,
            dlq=self.dlq,
            tier=self.tier,
            stream_meta_field_name=self.stream_meta_field_name,
            failover=self.failover,
        )


class AspCreateProcessorOperator(AspLineageMixin, AspDefinitionOperator):
    """Create a stream processor; returns its info.

    Takes the definition arguments of :class:`AspDefinitionOperator` and the wait
    parameters (used by the ``modify`` and ``replace`` policies, which stop the processor).

    :param if_exists: when a processor of that name exists: ``"error"`` (but an identical
        definition is success, so a retry after a lost reply passes), ``"skip"`` (keep it;
        warn if it differs), ``"replace"`` (stop, drop and create it if it differs) or
        ``"modify"`` (change it in place if it differs, keeping it running if it was).
        The definition compared is the pipeline (with its key order), ``dlq`` and ``tier``.
    """

    template_fields: Sequence[str] = (*AspDefinitionOperator.template_fields, "if_exists")

    def __init__(self, *, if_exists: str = "error", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.if_exists = if_exists

    def inputs(self) -> StepInputs:
        arguments.one_of(self.if_exists, "if_exists", IF_EXISTS_POLICIES)
        return super().inputs()

    def plan(self, found: Found) -> Plan:
        plan = create_plan(found.name, found.current, found.inputs.definition, self.if_exists)
        if self.if_exists == "skip" and plan.differences:
            self.log.warning(
                "Stream processor %r exists with a different %s: keeping it.",
                found.name,
                ", ".join(plan.differences),
            )
        return plan


class AspStartProcessorOperator(AspLineageMixin, AspLifecycleOperator):
    """Start a stream processor and wait until it is STARTED; returns its info.

    A processor already STARTED is success without a second start. FAILED fails the task
    at once with the server's ``errorMsg`` and ``errorCode``.

    :param workers: number of workers.
    :param tier: tier to run at (SP2 ... SP50).
    :param clear_checkpoints: start from the sources' beginning, not the checkpoint.
    :param start_at_operation_time: change stream start (templated): a BSON Timestamp, an
        aware datetime, epoch seconds, or an ISO-8601 string such as the rendered
        ``"{{ data_interval_start }}"``.
    :param start_after: change stream resume token.
    :param enable_auto_scaling: let Atlas scale the processor.
    :param cancel_on_kill: when the task is killed, stop the processor it started (while
        deferred: by the trigger's ``on_kill``, Airflow 3.3+ only).
    """

    template_fields: Sequence[str] = (
        *AspBaseOperator.template_fields,
        "tier",
        "start_at_operation_time",
        "start_after",
    )
    template_fields_renderers = {"start_after": "json"}

    def __init__(
        self,
        *,
        workers: int | None = None,
        tier: str | None = None,
        clear_checkpoints: bool | None = None,
        start_at_operation_time: Any = None,
        start_after: dict[str, Any] | str | None = None,
        enable_auto_scaling: bool | None = None,
        cancel_on_kill: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.workers = workers
        self.tier = tier
        self.clear_checkpoints = clear_checkpoints
        self.start_at_operation_time = start_at_operation_time
        self.start_after = start_after
        self.enable_auto_scaling = enable_auto_scaling
        self.cancel_on_kill = cancel_on_kill

    def inputs(self) -> StepInputs:
        from asp_core.stream_processing import StartStreamProcessorOptions

        with arguments.client_checks():
            options = StartStreamProcessorOptions(
                workers=self.workers,
                clear_checkpoints=self.clear_checkpoints,
                start_at_operation_time=arguments.operation_time(self.start_at_operation_time),
                start_after=arguments.document(self.start_after, "start_after"),
                tier=self.tier,
                enable_auto_scaling=self.enable_auto_scaling,
            )
        return StepInputs(start_options=options)

    def plan(self, found: Found) -> Plan:
        return plan_start(found)

    def on_kill(self) -> None:
        """Stop the processor this task started (``cancel_on_kill``)."""
        name = self.started_processor
        if not self.cancel_on_kill or name is None:
            return
        self.log.info("Task killed: stopping stream processor %r, which it started.", name)
        try:
            self.hook.get_processors().get(name).stop()
        except Exception as exc:
            self.log.warning("Could not stop stream processor %r: %s", name, exc)
        finally:
            self.hook.close()


class AspStopProcessorOperator(AspLifecycleOperator):
    """Stop a stream processor and wait until it is STOPPED; returns its info.

    A processor that is not running is success (nothing is sent).

    :param missing_ok: a missing processor is success (returns None) instead of failing.
    """

    def __init__(self, *, missing_ok: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.missing_ok = missing_ok

    def plan(self, found: Found) -> Plan:
        return plan_stop(found, missing_ok=self.missing_ok)

    def result(self, actions: ProcessorActions, done: Done) -> Any:
        if done.info is None and not done.progress.steps:  # missing, and missing_ok
            return None
        return super().result(actions, done)


class AspDropProcessorOperator(AspLifecycleOperator):
    """Drop a stream processor (a running one is stopped by the server first).

    Fit for ``trigger_rule="all_done"`` teardown tasks. Returns ``{"processor_name",
    "dropped"}``.

    :param missing_ok: a missing processor is success (the default).
    """

    def __init__(self, *, missing_ok: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.missing_ok = missing_ok

    def plan(self, found: Found) -> Plan:
        return plan_drop(found, missing_ok=self.missing_ok)

    def result(self, actions: ProcessorActions, done: Done) -> Any:
        return {"processor_name": done.name, "dropped": bool(done.progress.steps)}


class AspModifyProcessorOperator(AspLineageMixin, AspLifecycleOperator):
    """Change a stream processor; returns its info.

    A running processor is stopped, modified and (with ``restart``) started again, also
    when the server refuses the change. Nothing is sent when nothing differs.

    :param pipeline: the new stages (list or JSON string; templated, rendered as JSON).
    :param new_name: rename the processor.
    :param dlq: new dead letter queue; ``{}`` removes it.
    :param tier: new tier.
    :param resume_from_checkpoint: keep the checkpoint (server default: true).
    :param restart: start it again if it was running.
    """

    template_fields: Sequence[str] = (
        *AspBaseOperator.template_fields,
        "pipeline",
        "new_name",
        "dlq",
        "tier",
    )
    template_fields_renderers = {"pipeline": "json", "dlq": "json"}

    def __init__(
        self,
        *,
        pipeline: list[dict[str, Any]] | str | None = None,
        new_name: str | None = None,
        dlq: dict[str, Any] | str | None = None,
        tier: str | None = None,
        resume_from_checkpoint: bool | None = None,
        restart: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pipeline = pipeline
        self.new_name = new_name
        self.dlq = dlq
        self.tier = tier
        self.resume_from_checkpoint = resume_from_checkpoint
        self.restart = restart

    def inputs(self) -> StepInputs:
        from asp_core.stream_processing import VALID_TIERS

        definition = ProcessorDefinition(
            None if self.pipeline is None else arguments.pipeline(self.pipeline),
            arguments.document(self.dlq, "dlq"),
            None if self.tier is None else arguments.one_of(self.tier, "tier", VALID_TIERS),
        )
        new_name = (
            None if self.new_name is None else arguments.processor_name(self.new_name, "new_name")
        )
        if definition == ProcessorDefinition(None) and new_name is None:
            raise AspInputError("Nothing to modify: give pipeline, new_name, dlq or tier.")
        return StepInputs(
            definition, new_name=new_name, resume_from_checkpoint=self.resume_from_checkpoint
        )

    def plan(self, found: Found) -> Plan:
        current, new_name, renamed = found.current, found.inputs.new_name, None
        if current is None and new_name is not None:
            current = found.actions.find(new_name)  # renamed on an earlier try?
            if current is not None:
                self.log.info("Stream processor %r is already renamed %r.", found.name, new_name)
                renamed = new_name
        if current is None:
            raise AspProcessorNotFoundError(found.name, found.actions.where)
        differences = found.inputs.definition.differences(current)
        rename = new_name is not None and new_name != current.name
        if not differences and not rename:
            self.log.info("Stream processor %r already matches: nothing to modify.", current.name)
        plan = modify_plan(
            current, differences, changes=bool(differences) or rename, restart=self.restart
        )
        return dataclasses.replace(plan, name=renamed)


class AspDeployProcessorOperator(AspLineageMixin, AspDefinitionOperator):
    """Make a stream processor have this definition and be in ``desired_state``.

    Compares the workspace with the definition and state, logs the plan (create, stop,
    modify, start, or nothing to do), carries it out and returns ``{"processor_name",
    "actions", "changed", "state"}``. Run twice, the second run sends one
    ``getStreamProcessor`` and nothing else. Takes the definition arguments of
    :class:`AspDefinitionOperator` (a None ``dlq`` or ``tier`` is left alone).

    :param resume_from_checkpoint: passed to a modify (server default: true).
    :param desired_state: ``"STARTED"`` or ``"STOPPED"`` (not running; a new processor
        stays CREATED).
    """

    template_fields: Sequence[str] = (*AspDefinitionOperator.template_fields, "desired_state")

    def __init__(
        self,
        *,
        resume_from_checkpoint: bool | None = None,
        desired_state: str = states.STARTED,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.resume_from_checkpoint = resume_from_checkpoint
        self.desired_state = desired_state

    def inputs(self) -> StepInputs:
        arguments.one_of(self.desired_state, "desired_state", states.DESIRED_STATES)
        inputs = super().inputs()
        return dataclasses.replace(inputs, resume_from_checkpoint=self.resume_from_checkpoint)

    def plan(self, found: Found) -> Plan:
        return plan_deploy(found, self.desired_state)

    def result(self, actions: ProcessorActions, done: Done) -> Any:
        outcome = deployed(actions, done)
        return {
            "processor_name": outcome.name,
            "actions": outcome.steps,
            "changed": outcome.differences,
            "state": outcome.state,
        }


class AspSampleProcessorOperator(AspBaseOperator):
    """Return up to ``limit`` documents sampled from a running processor's output.

    :param limit: most documents to return.
    :param batch_size: documents per fetch.
    :param timeout: seconds to collect them; what arrived by then is returned (a bound: a
        silent server costs at most this plus about a second).
    """

    def __init__(
        self,
        *,
        limit: int = 10,
        batch_size: int | None = None,
        timeout: float = 60.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.limit = limit
        self.batch_size = batch_size
        self.timeout = timeout

    def run_for(self, name: str) -> list[Any]:
        import time

        limit = arguments.integer(self.limit, "limit")
        batch_size = arguments.integer(self.batch_size, "batch_size", allow_none=True)
        timeout = arguments.seconds(self.timeout, "timeout")
        actions = self.actions(deadline=time.time() + timeout)
        info = actions.require(name)
        self._check_running(info)
        self.log.info(
            "Sampling up to %d document(s) from %r for at most %g s.", limit, name, timeout
        )
        handle = actions.processors.get(name)
        # the cursor's own timeout bounds each command it sends: what arrived is returned
        with handle.sample(limit=limit, batch_size=batch_size, timeout=timeout) as cursor:
            documents = cursor.to_list(limit, timeout)
            ended_early = len(documents) < limit and not cursor.alive
        if ended_early:  # the server ends a sample cursor when its processor stops or fails
            info = actions.require(name)
            if states.is_failed(info.state):
                raise failure_error(info)
        self.log.info("Sampled %d document(s) from %r.", len(documents), name)
        return list(to_jsonable(documents))

    @staticmethod
    def _check_running(info: StreamProcessorInfo) -> None:
        from asp_core.errors import AspProcessorStateError

        if states.is_failed(info.state):
            raise failure_error(info)
        if not states.is_running(info.state):
            raise AspProcessorStateError(
                f"Stream processor {info.name!r} is {info.state}: sampling needs it STARTED."
            )


class AspGetProcessorStatsOperator(AspBaseOperator):
    """Return a stream processor's statistics (``getStreamProcessorStats``).

    :param verbose: include per-operator statistics.
    :param scale: unit divisor for sizes (1024: KiB).
    :param timeout: seconds the read may take at most (a bound, retries included).
    """

    def __init__(
        self,
        *,
        verbose: bool = False,
        scale: int | None = None,
        timeout: float = 60.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.verbose = verbose
        self.scale = scale
        self.timeout = timeout

    def run_for(self, name: str) -> dict[str, Any]:
        import time

        from asp_core.stream_processing import GetStreamProcessorStatsOptions

        with arguments.client_checks():
            options = GetStreamProcessorStatsOptions(scale=self.scale, verbose=self.verbose)
        timeout = arguments.seconds(self.timeout, "timeout")
        actions = self.actions(deadline=time.time() + timeout)
        handle = actions.processors.get(name)
        try:
            with actions.bounded():
                reply = handle.stats(options)
        except Exception as exc:
            if states.is_not_found(exc):
                raise AspProcessorNotFoundError(name, actions.where) from None
            raise
        envelope = {"ok", "$clusterTime", "operationTime"}
        return dict(to_jsonable({k: v for k, v in reply.items() if k not in envelope}))
