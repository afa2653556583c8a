"""What the ASP operators share: the processor name and connection, the lazy hook, the
Atlas UI link, and a lifecycle plan handed to the core's runner, with its deferral.

A lifecycle operator (create, start, stop, drop, modify, deploy) looks at the processor once,
states a :class:`~asp_core.plans.plan.Plan`, and the core's
:class:`~asp_core.plans.runner.PlanRunner` carries out its steps in order; nothing else
decides. A step that leaves the processor in a state (stop, start) is followed by a wait for
it: in the worker, or with ``deferrable=True`` in the triggerer, after which the task resumes
at the next step (:meth:`AspLifecycleOperator.resume`) from the
:class:`~asp_core.plans.progress.PlanProgress` the trigger carried. The whole try is bounded
by ``timeout``: every command and every wait get what is left of it.

Importing this module imports neither pymongo nor the hook, and touches no connection.
"""

from __future__ import annotations

import contextlib
import datetime
import time
from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk import BaseOperator

from airflow_provider_asp.errors import AirflowErrorsMixin
from airflow_provider_asp.links.asp import AspProcessorLink, atlas_workspace_url
from asp_core import arguments
from asp_core.errors import AspWaitTimeoutError
from asp_core.plans.lifecycle import Found, carry_out_plan
from asp_core.plans.progress import PlanProgress
from asp_core.plans.runner import MustWait, PlanRunner, StepInputs
from asp_core.waiting.verdict import Verdict, info_to_dict

try:
    from airflow.sdk.configuration import conf
except ImportError:  # pragma: no cover - Airflow 3.0
    from airflow.configuration import conf  # type: ignore[no-redef, unused-ignore]

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_asp.hooks.asp import AspHook
    from asp_core.plans.actions import ProcessorActions
    from asp_core.plans.plan import Plan
    from asp_core.plans.runner import Done

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
    "Found",
]


class AspTaskMixin(AirflowErrorsMixin):
    """What an ASP operator or sensor needs of its connection: the hook, built on first use
    (never at DAG parse time), failures to reach the workspace in plain words, the Atlas
    UI link, and the core's errors translated for Airflow at every entry point (the core's
    unretryable errors leave them as ``AirflowFailException``)."""

    asp_conn_id: str
    atlas_ui_url: str | None = None

    @cached_property
    def hook(self) -> AspHook:
        from airflow_provider_asp.hooks.asp import AspHook

        return AspHook(asp_conn_id=self.asp_conn_id)

    @contextlib.contextmanager
    def explained(self) -> Iterator[None]:
        """Turn failures to reach or log in to the workspace into plain words (pymongo's
        error, whose words they keep, is left out of the traceback)."""
        try:
            yield
        except Exception as exc:
            explained = self.hook.explain(exc)
            if explained is None:
                raise
            raise explained from None

    @property
    def where(self) -> str | None:
        """The connection and host, for messages; None when the connection cannot be read."""
        try:
            return self.hook.settings.where
        except Exception:
            return None

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
            where=self.hook.settings.where,
        )


class AspLifecycleOperator(AspBaseOperator):
    """An operator that states a plan of lifecycle steps and has the core's
    :class:`~asp_core.plans.runner.PlanRunner` carry it out, each stop or start followed by
    a wait for its state.

    A subclass states its plan (:meth:`plan`), what its steps are carried out with
    (:meth:`inputs`, where its own arguments are checked) and, if not the processor info,
    its result (:meth:`result`).

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
        #: The runner carrying this try's plan out (None before the plan is stated).
        self.runner: PlanRunner | None = None

    # -- what each operator defines -------------------------------------------------------
    def inputs(self) -> StepInputs:
        """What the steps are carried out with, from the checked arguments (checked before
        any client exists, and again on resume)."""
        return StepInputs()

    def plan(self, found: Found) -> Plan:
        """The steps from what was ``found`` to what this operator was asked for."""
        raise NotImplementedError

    def result(self, actions: ProcessorActions, done: Done) -> Any:
        """The task's return value. Default: the processor info (as the last step read it,
        or read now)."""
        return done.info if done.info is not None else info_to_dict(actions.require(done.name))

    # -- the plan, carried out by the core's runner ----------------------------------------
    @property
    def started_processor(self) -> str | None:
        """The processor this task started (``cancel_on_kill`` stops only that one)."""
        progress = None if self.runner is None else self.runner.progress
        return None if progress is None else progress.started_processor

    def run_for(self, name: str) -> Any:
        inputs = self.inputs()
        deadline = time.time() + arguments.seconds(self.timeout, "timeout")
        actions = self.lifecycle_actions(deadline)
        self.runner = self.plan_runner(actions, inputs)
        return self.finish(actions, carry_out_plan(self.runner, name, self.plan, deadline))

    def resume(self, context: Context, event: Any = None) -> Any:
        """Back from the triggerer: the wait's verdict, then the rest of the plan from the
        progress the trigger carried in its event (only there: ``dag.test()`` resumes a
        task with the event alone, without the deferral's kwargs)."""
        verdict = Verdict.from_event(event)
        self.log.info("%s", verdict.message)
        try:
            with self.explained():
                with contextlib.suppress(Exception):
                    self.set_link()
                info = verdict.result(
                    timeout_error=AspWaitTimeoutError, fatal=False, where=self.where
                )
                progress = PlanProgress.from_json(event.get("resume"))
                actions = self.lifecycle_actions(progress.deadline)
                return self.carry_out(actions, self.inputs(), progress, info=info)
        finally:
            self.hook.close()

    def lifecycle_actions(self, deadline: float) -> ProcessorActions:
        return self.actions(deadline, arguments.seconds(self.poll_interval, "poll_interval"))

    def plan_runner(self, actions: ProcessorActions, inputs: StepInputs) -> PlanRunner:
        """The core's runner for this try (waits handed back when deferrable)."""
        return PlanRunner(
            actions,
            inputs,
            wait_for_completion=self.wait_for_completion,
            hand_back_waits=self.deferrable,
        )

    def carry_out(
        self,
        actions: ProcessorActions,
        inputs: StepInputs,
        progress: PlanProgress,
        *,
        info: dict[str, Any] | None = None,
    ) -> Any:
        """Have the runner carry out the rest of the plan (after a deferral)."""
        self.runner = self.plan_runner(actions, inputs)
        return self.finish(actions, self.runner.run(progress, info=info))

    def finish(self, actions: ProcessorActions, outcome: Done | MustWait) -> Any:
        """Defer when the runner must wait; else the task's result."""
        if isinstance(outcome, MustWait):
            self._defer(outcome)
        return self.result(actions, outcome)

    def _defer(self, wait: MustWait) -> NoReturn:
        """Wait in the triggerer until the processor is in the awaited state, until the
        try's deadline; the trigger carries the progress to :meth:`resume` in its event."""
        from airflow_provider_asp.triggers.asp import AspProcessorStateTrigger
        from airflow_provider_asp.version_compat import AIRFLOW_V_3_3_PLUS

        started = wait.started_by_plan
        if self.cancel_on_kill and started and not AIRFLOW_V_3_3_PLUS:
            self.log.warning(
                "Airflow < 3.3 cannot stop the processor when a deferred task is killed."
            )
        self.log.info(
            "Deferring: waiting up to %.0f s in the triggerer for %r to be %s.",
            max(wait.deadline - time.time(), 0),
            wait.name,
            wait.state,
        )
        stale = wait.ignore_failure_at
        trigger = AspProcessorStateTrigger(
            processor_name=wait.name,
            asp_conn_id=self.asp_conn_id,
            poll_interval=arguments.seconds(self.poll_interval, "poll_interval"),
            end_time=wait.deadline,
            target_states=[wait.state],
            ignore_failure_at=None if stale is None else stale.isoformat(),
            cancel_on_kill=self.cancel_on_kill,
            started_by_task=started,
            resume=wait.progress.to_json(),
        )
        self.defer(
            trigger=trigger,
            method_name="resume",
            timeout=datetime.timedelta(seconds=max(wait.deadline - time.time(), 0)) + DEFER_MARGIN,
        )
