"""Operators for the whole life of an Atlas Stream Processing processor.

Importing this module imports neither pymongo nor the hook, and touches no connection:
hooks are built on first use inside ``execute``. Arguments are checked after templating
and before any client exists. Lifecycle operators look at the processor before acting,
so a retried task never repeats a command that already took effect. Return values are
plain JSON (BSON types converted).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_asp import lifecycle
from airflow_provider_asp.deploy_plan import deploy_plan
from airflow_provider_asp.exceptions import (
    AspDefinitionConflictError,
    AspInputError,
    AspProcessorNotFoundError,
    AspProcessorStateError,
)
from airflow_provider_asp.operators import arguments
from airflow_provider_asp.operators.actions import ProcessorActions
from airflow_provider_asp.operators.base import (
    AspBaseOperator,
    AspDefinitionOperator,
    AspWaitingOperator,
    info_to_dict,
)
from airflow_provider_asp.processor_definition import ProcessorDefinition
from airflow_provider_asp.serialization import to_jsonable

if TYPE_CHECKING:
    from airflow_provider_asp.stream_processing import (
        CreateStreamProcessorOptions,
        StreamProcessorInfo,
    )

__all__ = [
    "AspCreateProcessorOperator",
    "AspDeployProcessorOperator",
    "AspDropProcessorOperator",
    "AspModifyProcessorOperator",
    "AspProcessorStatsOperator",
    "AspSampleProcessorOperator",
    "AspStartProcessorOperator",
    "AspStopProcessorOperator",
]

IF_EXISTS_POLICIES: tuple[str, ...] = ("error", "skip", "replace", "modify")


class AspCreateProcessorOperator(AspDefinitionOperator):
    """Create a stream processor; returns its info.

    Takes the definition arguments of :class:`AspDefinitionOperator` and the wait
    parameters (used by the ``modify`` and ``replace`` policies).

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

    def run_for(self, name: str) -> dict[str, Any]:
        policy = arguments.one_of(self.if_exists, "if_exists", IF_EXISTS_POLICIES)
        definition, options = self.definition()
        actions = self.waiting_actions()
        current = actions.find(name)
        if current is None and actions.create(name, definition.pipeline or [], options):
            return info_to_dict(actions.require(name))
        current = current or actions.require(name)
        return info_to_dict(self._existing(actions, current, definition, policy, options))

    def _existing(
        self,
        actions: ProcessorActions,
        current: StreamProcessorInfo,
        definition: ProcessorDefinition,
        policy: str,
        options: CreateStreamProcessorOptions,
    ) -> StreamProcessorInfo:
        name = current.name
        differences = definition.differences(current)
        if not differences:
            self.log.info("Stream processor %r exists with this definition: nothing to do.", name)
            return current
        what = ", ".join(differences)
        if policy == "error":
            raise AspDefinitionConflictError(
                f"Stream processor {name!r} exists with a different {what}; set if_exists to "
                "'skip', 'modify' or 'replace' to accept that."
            )
        if policy == "skip":
            self.log.warning(
                "Stream processor %r exists with a different %s: keeping it.", name, what
            )
            return current
        if policy == "modify":
            return actions.modify(current, definition.changes(differences), restart=True)
        self.log.info("Replacing stream processor %r (different %s).", name, what)
        actions.stop(current, wait=True)
        actions.drop(name)
        actions.create(name, definition.pipeline or [], options)
        return actions.require(name)


class AspStartProcessorOperator(AspWaitingOperator):
    """Start a stream processor and wait until it is STARTED; returns its info.

    A processor already STARTED is success without a second start. FAILED fails the task
    at once with the server's ``errorMsg`` and ``errorCode``.

    :param workers: number of workers.
    :param tier: tier to run at (SP2 ... SP50).
    :param clear_checkpoints: start from the sources' beginning, not the checkpoint.
    :param start_at_operation_time: change stream start (Timestamp, aware datetime or
        epoch seconds).
    :param start_after: change stream resume token.
    :param enable_auto_scaling: let Atlas scale the processor.
    :param cancel_on_kill: when the task is killed, stop the processor it started (while
        deferred: by the trigger's ``on_kill``, Airflow 3.3+ only).
    """

    defers_wait = True

    template_fields: Sequence[str] = (*AspBaseOperator.template_fields, "tier", "start_after")
    template_fields_renderers = {"start_after": "json"}

    def __init__(
        self,
        *,
        workers: int | None = None,
        tier: str | None = None,
        clear_checkpoints: bool | None = None,
        start_at_operation_time: Any = None,
        start_after: dict[str, Any] | None = None,
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
        self.started_processor: str | None = None

    def run_for(self, name: str) -> dict[str, Any]:
        from airflow_provider_asp.stream_processing import StartStreamProcessorOptions

        with arguments.client_checks():
            options = StartStreamProcessorOptions(
                workers=self.workers,
                clear_checkpoints=self.clear_checkpoints,
                start_at_operation_time=arguments.operation_time(self.start_at_operation_time),
                start_after=arguments.document(self.start_after, "start_after"),
                tier=self.tier,
                enable_auto_scaling=self.enable_auto_scaling,
            )
        actions = self.waiting_actions()
        info = actions.require(name)
        if not lifecycle.is_running(info.state):
            self.started_processor = name
        stale = lifecycle.stale_failure_at(info)
        wait = self.wait_for_completion and not self.defers
        result = actions.start(info, options, wait=wait)
        pending = lifecycle.evaluate(result, lifecycle.STARTED, stale) is lifecycle.Outcome.PENDING
        if self.defers and pending:
            self.defer_until(
                name,
                lifecycle.STARTED,
                ignore_failure_at=stale,
                started_by_task=self.started_processor is not None,
                cancel_on_kill=self.cancel_on_kill,
            )
        return info_to_dict(result)

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


class AspStopProcessorOperator(AspWaitingOperator):
    """Stop a stream processor and wait until it is STOPPED; returns its info.

    A processor that is not running is success (nothing is sent).

    :param missing_ok: a missing processor is success (returns None) instead of failing.
    """

    defers_wait = True

    def __init__(self, *, missing_ok: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.missing_ok = missing_ok

    def run_for(self, name: str) -> dict[str, Any] | None:
        actions = self.waiting_actions()
        info = actions.find(name)
        if info is None:
            if self.missing_ok:
                self.log.info("Stream processor %r does not exist: nothing to stop.", name)
                return None
            raise AspProcessorNotFoundError(name)
        result = actions.stop(info, wait=self.wait_for_completion and not self.defers)
        sent = lifecycle.is_running(info.state)
        pending = lifecycle.evaluate(result, lifecycle.STOPPED) is lifecycle.Outcome.PENDING
        if self.defers and sent and pending:
            self.defer_until(name, lifecycle.STOPPED)
        return info_to_dict(result)


class AspDropProcessorOperator(AspBaseOperator):
    """Drop a stream processor (a running one is stopped by the server first).

    Fit for ``trigger_rule="all_done"`` teardown tasks. Returns ``{"processor_name",
    "dropped"}``.

    :param missing_ok: a missing processor is success (the default).
    """

    def __init__(self, *, missing_ok: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.missing_ok = missing_ok

    def run_for(self, name: str) -> dict[str, Any]:
        dropped = self.actions().drop(name)
        if not dropped and not self.missing_ok:
            raise AspProcessorNotFoundError(name)
        return {"processor_name": name, "dropped": dropped}


class AspModifyProcessorOperator(AspWaitingOperator):
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

    def run_for(self, name: str) -> dict[str, Any]:
        from airflow_provider_asp.stream_processing import VALID_TIERS

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
        actions = self.waiting_actions()
        current = self._current(actions, name, new_name)
        changes = definition.changes(definition.differences(current))
        if new_name is not None and new_name != current.name:
            changes["new_name"] = new_name
        if not changes:
            self.log.info("Stream processor %r already matches: nothing to modify.", current.name)
            return info_to_dict(current)
        if self.resume_from_checkpoint is not None:
            changes["resume_from_checkpoint"] = self.resume_from_checkpoint
        return info_to_dict(actions.modify(current, changes, restart=self.restart))

    def _current(
        self, actions: ProcessorActions, name: str, new_name: str | None
    ) -> StreamProcessorInfo:
        """The processor; after a rename that took effect on an earlier try, the renamed one."""
        current = actions.find(name)
        if current is None and new_name is not None:
            current = actions.find(new_name)
            if current is not None:
                self.log.info("Stream processor %r is already renamed %r.", name, new_name)
        if current is None:
            raise AspProcessorNotFoundError(name)
        return current


class AspSampleProcessorOperator(AspBaseOperator):
    """Return up to ``limit`` documents sampled from a running processor's output.

    :param limit: most documents to return.
    :param batch_size: documents per fetch.
    :param timeout: seconds to collect them; what arrived by then is returned.
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
        limit = arguments.count(self.limit, "limit")
        batch_size = (
            None if self.batch_size is None else arguments.count(self.batch_size, "batch_size")
        )
        timeout = arguments.seconds(self.timeout, "timeout")
        actions = self.actions()
        info = actions.require(name)
        if lifecycle.is_failed(info.state):
            raise lifecycle.failure_error(info)
        if not lifecycle.is_running(info.state):
            raise AspProcessorStateError(
                f"Stream processor {name!r} is {info.state}: sampling needs it STARTED."
            )
        self.log.info(
            "Sampling up to %d document(s) from %r for at most %g s.", limit, name, timeout
        )
        handle = actions.processors.get(name)
        with handle.sample(limit=limit, batch_size=batch_size, timeout=timeout) as cursor:
            documents = cursor.to_list(limit, timeout)
            ended_early = len(documents) < limit and not cursor.alive
        if ended_early:
            # The server ends a sample cursor when its processor stops or fails.
            info = actions.require(name)
            if lifecycle.is_failed(info.state):
                raise lifecycle.failure_error(info)
        self.log.info("Sampled %d document(s) from %r.", len(documents), name)
        return list(to_jsonable(documents))


class AspProcessorStatsOperator(AspBaseOperator):
    """Return a stream processor's statistics (``getStreamProcessorStats``).

    :param verbose: include per-operator statistics.
    :param scale: unit divisor for sizes (1024: KiB).
    """

    def __init__(self, *, verbose: bool = False, scale: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.verbose = verbose
        self.scale = scale

    def run_for(self, name: str) -> dict[str, Any]:
        from airflow_provider_asp.stream_processing import GetStreamProcessorStatsOptions

        with arguments.client_checks():
            options = GetStreamProcessorStatsOptions(scale=self.scale, verbose=self.verbose)
        handle = self.actions().processors.get(name)
        try:
            reply = handle.stats(options)
        except Exception as exc:
            if lifecycle.is_not_found(exc):
                raise AspProcessorNotFoundError(name) from None
            raise
        envelope = {"ok", "$clusterTime", "operationTime"}
        return dict(to_jsonable({k: v for k, v in reply.items() if k not in envelope}))


class AspDeployProcessorOperator(AspDefinitionOperator):
    """Make a stream processor have this definition and be in ``desired_state``.

    Compares the workspace with the definition and state, logs the plan (create, stop,
    modify, start, or nothing to do), applies the fewest commands, waits for the state and
    returns ``{"processor_name", "actions", "changed", "state"}``. Run twice, the second
    run sends one ``getStreamProcessor`` and nothing else. Takes the definition arguments
    of :class:`AspDefinitionOperator` (a None ``dlq`` or ``tier`` is left alone).

    :param resume_from_checkpoint: passed to a modify (server default: true).
    :param desired_state: ``"STARTED"`` or ``"STOPPED"`` (not running; a new processor
        stays CREATED).
    """

    template_fields: Sequence[str] = (*AspDefinitionOperator.template_fields, "desired_state")

    def __init__(
        self,
        *,
        resume_from_checkpoint: bool | None = None,
        desired_state: str = lifecycle.STARTED,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.resume_from_checkpoint = resume_from_checkpoint
        self.desired_state = desired_state

    def run_for(self, name: str) -> dict[str, Any]:
        desired = arguments.one_of(self.desired_state, "desired_state", lifecycle.DESIRED_STATES)
        definition, options = self.definition()
        actions = self.waiting_actions()
        current = actions.find(name)
        plan = deploy_plan(current, definition, desired)
        self.log.info(plan.describe(name, current))
        info = current
        if info is None:
            if not actions.create(name, definition.pipeline or [], options):
                raise RuntimeError(f"Stream processor {name!r} appeared meanwhile; run again.")
            info = actions.require(name)
        elif plan.differences:
            changes = definition.changes(list(plan.differences))
            if self.resume_from_checkpoint is not None:
                changes["resume_from_checkpoint"] = self.resume_from_checkpoint
            info = actions.modify(info, changes, restart=desired == lifecycle.STARTED)
        elif desired == lifecycle.STOPPED:
            info = actions.stop(info, wait=self.wait_for_completion)
        if desired == lifecycle.STARTED:
            info = actions.start(info, None, wait=self.wait_for_completion)
        return {
            "processor_name": name,
            "actions": list(plan.steps),
            "changed": list(plan.differences),
            "state": info.state,
        }
