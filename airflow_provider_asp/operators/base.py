"""What the ASP operators share: the processor name and connection, the lazy hook, the
Atlas UI link, and the carrying out of a lifecycle plan with its waits.

A lifecycle operator (create, start, stop, drop, modify, deploy) looks at the processor once,
computes a :class:`~asp_core.plans.plan.Plan` and carries out its steps in
order; nothing else decides. A step that leaves the processor in a state (stop, start) is
followed by a wait for it: in the worker, or with ``deferrable=True`` in the triggerer, after
which the task resumes at the next step (:meth:`AspLifecycleOperator.resume`). The whole try
is bounded by ``timeout``: every command and every wait get what is left of it.

Importing this module imports neither pymongo nor the hook, and touches no connection.
"""

from __future__ import annotations

import contextlib
import datetime
import time
from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_asp.errors import airflow_errors
from airflow_provider_asp.links.asp import AspProcessorLink, atlas_workspace_url
from asp_core import arguments
from asp_core.errors import AspWaitTimeoutError
from asp_core.plans.plan import STEP_TARGETS, Plan, ProcessorDefinition, Step
from asp_core.waiting import states
from asp_core.waiting.verdict import Verdict, info_to_dict

try:
    from airflow.sdk.configuration import conf
except ImportError:  # pragma: no cover - Airflow 3.0
    from airflow.configuration import conf  # type: ignore[no-redef, unused-ignore]

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_asp.hooks.asp import AspHook
    from asp_core.plans.actions import ProcessorActions
    from asp_core.stream_processing import StreamProcessorInfo

DEFAULT_DEFERRABLE: bool = conf.getboolean("operators", "default_deferrable", fallback=False)
DEFAULT_WAIT_TIMEOUT = 600.0
DEFAULT_POLL_INTERVAL = 5.0
#: A task's deferral outlives its trigger's own deadline by this much, so the trigger
#: reports the timeout itself and Airflow's deferral timeout is only a backstop.
DEFER_MARGIN = datetime.timedelta(seconds=60)

__all__ = [
    "DEFAULT_DEFERRABLE",
    "DEFER_MARGIN",
    "AspBaseOperator",
    "AspLifecycleOperator",
    "AspTaskMixin",
]


#: The methods through which Airflow enters a task: the core's unretryable errors leave
#: them as ``AirflowFailException`` (:func:`~airflow_provider_asp.errors.airflow_errors`).
_ENTRY_POINTS = ("execute", "resume", "execute_complete", "poke")


class AspTaskMixin:
    """What an ASP operator or sensor needs of its connection: the hook, built on first use
    (never at DAG parse time), failures to reach the workspace in plain words, the Atlas
    UI link, and the core's errors translated for Airflow at every entry point."""

    asp_conn_id: str
    atlas_ui_url: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in _ENTRY_POINTS:
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "__asp_airflow_errors__", False):
                setattr(cls, name, airflow_errors(method))

    @cached_property
    def hook(self) -> AspHook:
        from airflow_provider_asp.hooks.asp import AspHook

        return AspHook(asp_conn_id=self.asp_conn_id)

    @contextlib.contextmanager
    def explained(self) -> Iterator[None]:
        """Turn failures to reach or log in to the workspace into plain words."""
        try:
            yield
        except Exception as exc:
            explained = self.hook.explain(exc)
            if explained is None:
                raise
            raise explained from exc

    def set_link(self) -> None:
        """The "Atlas Stream Processing" link, from the connection's project and workspace."""
        if self.atlas_ui_url is None:
            settings = self.hook.settings
            self.atlas_ui_url = atlas_workspace_url(settings.project_id, settings.workspace_name)


class AspBaseOperator(AspTaskMixin, BaseOperator):
    """What every ASP operator shares: the processor name, the connection, the lazy hook
    and the Atlas UI link.

    :param processor_name: the stream processor (templated).
    :param asp_conn_id: the ``asp`` connection (templated).
    """

    template_fields: Sequence[str] = ("processor_name", "asp_conn_id")
    ui_color = "#00ED64"
    operator_extra_links = (AspProcessorLink(),)

    def __init__(self, *, processor_name: str, asp_conn_id: str = "asp_default", **kwargs: Any):
        super().__init__(**kwargs)
        self.processor_name = processor_name
        self.asp_conn_id = asp_conn_id
        self.atlas_ui_url = None

    def execute(self, context: Context) -> Any:
        name = arguments.processor_name(self.processor_name)
        try:
            with self.explained():
                return self.run_for(name)
        finally:
            self.hook.close()

    def run_for(self, name: str) -> Any:
        """The operator's work on the checked processor ``name``."""
        raise NotImplementedError

    def actions(
        self, deadline: float | None = None, poll_interval: float = DEFAULT_POLL_INTERVAL
    ) -> ProcessorActions:
        """The lifecycle actions on the connection's workspace (connects lazily)."""
        from asp_core.plans.actions import ProcessorActions

        self.set_link()
        return ProcessorActions(
            self.hook.get_processors(),
            self.log,
            deadline=deadline,
            command_timeout=self.hook.settings.command_timeout,
            poll_interval=poll_interval,
        )


class AspLifecycleOperator(AspBaseOperator):
    """An operator that carries out a plan of lifecycle steps, each stop or start followed
    by a wait for its state.

    :param wait_for_completion: wait until the last step's state is reached (steps before
        the last always wait: a modify needs the processor stopped).
    :param poll_interval: seconds between two looks while waiting.
    :param timeout: seconds this try may take at most, commands and waits together.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
        The operator acts, looks once, and defers only when the state is not reached yet;
        it resumes at the next step. With nothing to wait for, it never defers.
    """

    #: Stop a processor this task started when the task is killed (the start operator's
    #: argument; no other operator starts a processor on its own).
    cancel_on_kill: bool = False
    #: Passed to a modify step (the deploy and modify operators take it as an argument).
    resume_from_checkpoint: bool | None = None

    def __init__(
        self,
        *,
        wait_for_completion: bool = True,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        deferrable: bool = DEFAULT_DEFERRABLE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.wait_for_completion = wait_for_completion
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.deferrable = deferrable
        #: The processor this task started (``cancel_on_kill`` stops only that one).
        self.started_processor: str | None = None
        #: When the processor FAILED before this task restarts it (that failure is old news).
        self._stale: datetime.datetime | None = None
        #: The processor as read before the first step (None once a step changed it).
        self.current_info: StreamProcessorInfo | None = None
        #: The plan being carried out, and the steps after the one being carried out.
        self.plan_now = Plan(())
        self.steps_left: list[Step] = []

    # -- what each operator defines -------------------------------------------------------
    def plan(
        self, actions: ProcessorActions, name: str, current: StreamProcessorInfo | None
    ) -> Plan:
        """The steps from ``current`` (None: missing) to what this operator was asked for."""
        raise NotImplementedError

    def do_step(self, actions: ProcessorActions, step: Step, name: str) -> str:
        """Send the command of ``step``; returns the processor's name afterwards."""
        raise NotImplementedError

    def modify_changes(self, definition: ProcessorDefinition, **more: Any) -> dict[str, Any]:
        """The ``modify`` keyword arguments for the differences of the plan being carried
        out, plus ``more``, and ``resume_from_checkpoint`` when it is set."""
        changes = {**definition.changes(self.plan_now.differences), **more}
        if self.resume_from_checkpoint is not None:
            changes["resume_from_checkpoint"] = self.resume_from_checkpoint
        return changes

    def result(self, actions: ProcessorActions, name: str, plan: Plan, info: Any) -> Any:
        """The task's return value; ``info`` is the processor info dict if the last step
        read it, else None. Default: the processor info."""
        return info if info is not None else info_to_dict(actions.require(name))

    # -- carrying a plan out -------------------------------------------------------------
    def run_for(self, name: str) -> Any:
        deadline = time.time() + arguments.seconds(self.timeout, "timeout")
        actions = self.lifecycle_actions(deadline)
        current = actions.find(name)
        plan = self.plan(actions, name, current)
        if plan.name is not None and current is None:
            current = actions.find(plan.name)
        name = plan.name or name
        self.log.info("%s", plan.describe(name, current))
        self._stale = _failed_at(current)
        self.current_info = current
        start_info = info_to_dict(current) if current is not None and not plan.steps else None
        return self.carry_out(actions, name, plan, list(plan.steps), start_info)

    def lifecycle_actions(self, deadline: float) -> ProcessorActions:
        return self.actions(deadline, arguments.seconds(self.poll_interval, "poll_interval"))

    def carry_out(
        self, actions: ProcessorActions, name: str, plan: Plan, steps: list[Step], info: Any
    ) -> Any:
        """Carry out ``steps`` (the rest of ``plan``) in order, waiting after each stop and
        start; defers when a wait belongs in the triggerer."""
        self.plan_now = plan
        for index, step in enumerate(steps):
            if step is Step.START and self.started_processor is None:
                self.started_processor = name
            self.steps_left = steps[index + 1 :]
            name = self.do_step(actions, step, name)
            self.current_info = info = None
            target = STEP_TARGETS[step]
            if target is None:
                continue
            last = index == len(steps) - 1
            wait = self.wait_for_completion or not last
            stale = self._stale if step is Step.START else None
            if wait and self.deferrable:
                info = actions.settle(name, target, wait=False, ignore_failure_at=stale)
                if states.normalize_state(info["state"]) != target:
                    end_time = actions.deadline or time.time() + float(self.timeout)
                    self._defer(name, target, plan, steps[index + 1 :], end_time, stale)
                continue
            info = actions.settle(name, target, wait=wait, ignore_failure_at=stale)
        return self.result(actions, name, plan, info)

    def _defer(
        self,
        name: str,
        target: str,
        plan: Plan,
        rest: list[Step],
        end_time: float,
        stale: datetime.datetime | None,
    ) -> None:
        """Wait in the triggerer until ``name`` is ``target``, until ``end_time`` (the try's
        deadline); then :meth:`resume` carries out ``rest``."""
        from airflow_provider_asp.triggers.asp import AspProcessorStateTrigger
        from airflow_provider_asp.version_compat import AIRFLOW_V_3_3_PLUS

        started = self.started_processor == name and target == states.STARTED
        cancel_on_kill = self.cancel_on_kill
        if cancel_on_kill and started and not AIRFLOW_V_3_3_PLUS:
            self.log.warning(
                "Airflow < 3.3 cannot stop the processor when a deferred task is killed."
            )
        self.log.info(
            "Deferring: waiting up to %.0f s in the triggerer for %r to be %s.",
            max(end_time - time.time(), 0),
            name,
            target,
        )
        resume = {
            "name": name,
            "rest": [step.value for step in rest],
            "steps": plan.step_names,
            "differences": list(plan.differences),
            "deadline": end_time,
            "started_processor": self.started_processor,
        }
        trigger = AspProcessorStateTrigger(
            processor_name=name,
            asp_conn_id=self.asp_conn_id,
            poll_interval=arguments.seconds(self.poll_interval, "poll_interval"),
            end_time=end_time,
            target_states=[target],
            ignore_failure_at=None if stale is None else stale.isoformat(),
            cancel_on_kill=cancel_on_kill,
            started_by_task=started,
            resume=resume,
        )
        self.defer(
            trigger=trigger,
            method_name="resume",
            kwargs=resume,
            timeout=datetime.timedelta(seconds=max(end_time - time.time(), 0)) + DEFER_MARGIN,
        )

    def resume(self, context: Context, event: Any = None, **kwargs: Any) -> Any:
        """Back from the triggerer: the wait's verdict, then the rest of the plan. Where to
        resume comes with the deferral's kwargs, or else in the event (``dag.test()`` passes
        the event alone)."""
        verdict = Verdict.from_event(event)
        self.log.info("%s", verdict.message)
        state = kwargs or (event.get("resume") if isinstance(event, dict) else None) or {}
        try:
            with self.explained():
                with contextlib.suppress(Exception):
                    self.set_link()
                info = verdict.result(timeout_error=AspWaitTimeoutError, fatal=False)
                return self._resume_plan(info, **state)
        finally:
            self.hook.close()

    def _resume_plan(
        self,
        info: Any,
        *,
        name: str,
        rest: list[str],
        steps: list[str],
        differences: list[str],
        deadline: float,
        started_processor: str | None = None,
    ) -> Any:
        self.started_processor = started_processor
        self._stale = None
        plan = Plan(tuple(Step(s) for s in steps), tuple(differences))
        actions = self.lifecycle_actions(deadline)
        return self.carry_out(actions, name, plan, [Step(s) for s in rest], info)


def _failed_at(info: StreamProcessorInfo | None) -> datetime.datetime | None:
    """For a FAILED processor about to be restarted: when it failed (a FAILED state with
    that ``lastStateChange`` is the old failure, not the restart's), else None."""
    if info is not None and states.is_failed(info.state):
        return info.last_state_change
    return None
