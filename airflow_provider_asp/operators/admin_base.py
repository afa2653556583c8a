"""What the Admin API operators share: the ``asp_admin`` connection and its lazy hook, the
workspace name, the try's deadline (every call and wait within it), and the waits (READY,
gone) in the worker or, with ``deferrable=True``, in the triggerer.

A waiting operator (:class:`AspAdminWaitOperator`) runs the core's leg
(:mod:`asp_core.admin.apply`: look, plan, send) and follows its
:class:`~asp_core.admin.steps.Step`: it looks once and defers only when the awaited
condition is not met yet; the trigger echoes ``resume`` (JSON, never a secret) and the task
carries on in :meth:`AspAdminWaitOperator.finish` (after an awaited "gone", the leg again).
Importing this module sends nothing.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk import BaseOperator

from airflow_provider_asp.errors import AirflowErrorsMixin
from airflow_provider_asp.operators.base import (
    DEFAULT_DEFERRABLE,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_WAIT_TIMEOUT,
    DEFER_MARGIN,
)
from asp_core import arguments
from asp_core.errors import AspInputError

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_asp.hooks.admin import AspAdminHook
    from airflow_provider_asp.triggers.admin import AdminLook, AdminWait
    from asp_core.admin.steps import Step


def checked_name(value: Any, label: str) -> str:
    """A non-empty name (after templating)."""
    if not isinstance(value, str) or not value.strip():
        raise AspInputError(f"{label} must be a non-empty string, not {value!r}.")
    return value


class AspAdminBaseOperator(AirflowErrorsMixin, BaseOperator):
    """An operator on one workspace of the ``asp_admin`` connection's project.

    :param workspace_name: the workspace (templated).
    :param asp_admin_conn_id: the ``asp_admin`` connection (templated).
    :param timeout: seconds this try may take at most: each call gets what is left of it
        (its request timeout and retries capped), each wait too; a silent Admin API costs
        about one request's timeout more.
    """

    template_fields: Sequence[str] = ("workspace_name", "asp_admin_conn_id")
    ui_color = "#00684A"

    def __init__(
        self,
        *,
        workspace_name: str,
        asp_admin_conn_id: str = "asp_admin_default",
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.workspace_name = workspace_name
        self.asp_admin_conn_id = asp_admin_conn_id
        self.timeout = timeout
        self._deadline = 0.0

    @cached_property
    def hook(self) -> AspAdminHook:
        """The hook, its calls bounded by what is left of the try (made on first use)."""
        from airflow_provider_asp.hooks.admin import AspAdminHook

        return AspAdminHook(self.asp_admin_conn_id, within=self._deadline - time.time())

    # -- what each operator defines -------------------------------------------------------
    def run(self, workspace: str) -> Any:
        """The operator's work on the checked workspace name."""
        raise NotImplementedError

    # -- Airflow's entry point ------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        workspace = checked_name(self.workspace_name, "workspace_name")
        self._deadline = time.time() + arguments.seconds(self.timeout, "timeout")
        try:
            return self.run(workspace)
        finally:
            self.hook.close()


class AspAdminWaitOperator(AspAdminBaseOperator):
    """An operator that waits for its change to be done (READY, gone).

    :param wait_for_completion: wait until the change is done.
    :param poll_interval: seconds between two looks while waiting.
    :param timeout: seconds this try may take at most, calls and waits together (give
        private-networking connections 2400: Atlas takes 20-30 minutes for them).
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    """

    def __init__(
        self,
        *,
        wait_for_completion: bool = True,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        deferrable: bool = DEFAULT_DEFERRABLE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.wait_for_completion = wait_for_completion
        self.poll_interval = poll_interval
        self.deferrable = deferrable

    # -- what each waiting operator defines -----------------------------------------------
    def leg(self, workspace: str, previous: Step | None) -> Step:
        """The core's leg of this operator (look, plan, send); ``previous``: the step
        before an awaited "gone" (None: the first leg)."""
        raise NotImplementedError

    def result(self, step: Step) -> dict[str, Any]:
        """The task's return value for a step (plain JSON, no secret)."""
        raise NotImplementedError

    # -- following the core's steps ------------------------------------------------------
    def run(self, workspace: str) -> Any:
        return self.follow(self.leg(workspace, None))

    def follow(self, step: Step) -> Any:
        """Log the step, then wait for what it awaits (here or in the triggerer) and
        return the result, or run the leg again after an awaited "gone"."""
        from airflow_provider_asp.triggers.admin import AdminWait

        self.log.info("%s", step.note)
        if step.warning:
            self.log.warning("%s", step.warning)
        if step.awaits is None:
            return self.result(step)
        wait = AdminWait(step.awaits, step.workspace, step.awaited)
        if step.again:
            return self.await_then(wait, {"then": "again", "step": step.resume()}, always=True)
        first = step.first if step.awaits == "ready" else None
        return self.await_then(wait, {"result": self.result(step)}, first=first)

    def finish(self, resume: Mapping[str, Any], look: AdminLook | None) -> Any:
        """The task's result once the wait is over (``look``: its last look; None when
        nothing was awaited): ``resume["result"]`` with the state looked at, or, after an
        awaited "gone" that asks for it, the leg again."""
        from asp_core.admin.steps import Step

        if resume.get("then") == "again":
            workspace = checked_name(self.workspace_name, "workspace_name")
            connection = getattr(self, "connection_name", None)
            previous = Step.from_resume(workspace, connection, resume.get("step") or {})
            return self.follow(self.leg(workspace, previous))
        result = dict(resume.get("result") or {})
        if look is not None and look.state is not None and "state" in result:
            result["state"] = look.state
        return result

    def execute_complete(self, context: Context, event: Any = None) -> Any:
        """Back from the triggerer: the wait's outcome, then :meth:`finish`."""
        from airflow_provider_asp.triggers.admin import AdminLook

        look = AdminLook.from_event(event)
        self.log.info("%s", look.message)
        look.raise_unless_success()
        resume = dict(event.get("resume") or {}) if isinstance(event, Mapping) else {}
        self._deadline = float(resume.get("deadline") or time.time())
        try:
            return self.finish(resume, look)
        finally:
            self.hook.close()

    # -- waiting ----------------------------------------------------------------------------
    def await_then(
        self,
        wait: AdminWait,
        resume: Mapping[str, Any],
        *,
        first: Mapping[str, Any] | None = None,
        always: bool = False,
    ) -> Any:
        """Wait for ``wait`` (unless ``wait_for_completion`` is off and not ``always``),
        then :meth:`finish`. ``first``: a document already read, judged as the first look."""
        if not (self.wait_for_completion or always):
            return self.finish(resume, None)
        interval = arguments.seconds(self.poll_interval, "poll_interval")
        client = self.hook.get_conn()
        look = wait.judge(first) if first is not None else wait.wait(client, 0, interval)
        if look.status == "pending":
            self.log.info("%s", look.message)
            if self.deferrable:
                self._defer(wait, resume)
            left = max(self._deadline - time.time(), 0.0)
            self.log.info("Waiting up to %.0f s for %s to be %s.", left, wait.what, wait.awaited)
            look = wait.wait(client, left, interval)
        self.log.info("%s", look.message)
        look.raise_unless_success()
        return self.finish(resume, look)

    def _defer(self, wait: AdminWait, resume: Mapping[str, Any]) -> NoReturn:
        from airflow_provider_asp.triggers.admin import AspAdminWaitTrigger

        left = max(self._deadline - time.time(), 0.0)
        self.log.info("Deferring: waiting up to %.0f s in the triggerer.", left)
        trigger = AspAdminWaitTrigger(
            **wait.to_kwargs(),
            end_time=self._deadline,
            asp_admin_conn_id=self.asp_admin_conn_id,
            poll_interval=arguments.seconds(self.poll_interval, "poll_interval"),
            resume={**resume, "deadline": self._deadline},
        )
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            timeout=datetime.timedelta(seconds=left) + DEFER_MARGIN,
        )
