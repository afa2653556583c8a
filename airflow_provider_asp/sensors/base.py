"""What the ASP sensors share: the processor and connection, the lazy hook, the checked
condition, and the three modes (poke, reschedule, deferrable) driven by one ``poke``.

In every mode each look goes through :meth:`AspBaseSensor.poke`, which looks with
:func:`asp_core.waiting.synchronous.look` (generated from the triggers' code), so
a transient error costs one look and each command is bounded by the sensor's timeout.
Deferrable mode is poke mode whose
first pending look defers instead of sleeping, so the look before deferring, and
``soft_fail``/``never_fail``/``silent_fail`` around it, are Airflow's own. The trigger
asks the same condition, and :meth:`AspBaseSensor.execute_complete` turns its event into
the same return value or exception as a poke. Importing this module imports no pymongo.
"""

from __future__ import annotations

import contextlib
import datetime
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout, AirflowSkipException

from airflow_provider_asp.links.asp import AspProcessorLink
from airflow_provider_asp.operators.base import DEFAULT_DEFERRABLE, DEFER_MARGIN, AspTaskMixin
from asp_core import arguments
from asp_core.waiting import conditions
from asp_core.waiting.conditions import Condition
from asp_core.waiting.verdict import Verdict

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_asp.triggers.asp import AspBaseTrigger


class AspBaseSensor(AspTaskMixin, BaseSensorOperator):
    """Waits for a condition of one stream processor.

    :param processor_name: the stream processor (templated).
    :param asp_conn_id: the ``asp`` connection (templated).
    :param deferrable: wait in the triggerer after a first look
        (default: ``[operators] default_deferrable``).
    :param poll_interval: seconds between looks in the triggerer (default: ``poke_interval``).

    ``poke_interval``, ``timeout``, ``mode``, ``soft_fail`` and the rest are
    ``BaseSensorOperator``'s; ``timeout`` also bounds the deferred wait.
    """

    template_fields: Sequence[str] = ("processor_name", "asp_conn_id")
    ui_color = "#00ED64"
    operator_extra_links = (AspProcessorLink(),)
    #: The trigger that waits for this sensor's condition.
    trigger_class: ClassVar[type[AspBaseTrigger]]

    def __init__(
        self,
        *,
        processor_name: str,
        asp_conn_id: str = "asp_default",
        deferrable: bool = DEFAULT_DEFERRABLE,
        poll_interval: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.processor_name = processor_name
        self.asp_conn_id = asp_conn_id
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.atlas_ui_url: str | None = None
        self._condition: Condition | None = None
        self._end_time = time.time() + self.timeout

    # -- what each sensor defines ---------------------------------------------------------
    def build_condition(self, name: str) -> Condition:
        """The condition, from the checked arguments (AspInputError if one is wrong)."""
        raise NotImplementedError

    def before_deferring(self, condition: Condition) -> Condition:
        """The condition of the look before deferring, which should be quick: the wait
        belongs in the triggerer, not in a worker slot."""
        return condition

    # -- the modes -------------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        name = arguments.processor_name(self.processor_name)
        self._condition = self.build_condition(name)
        if self.deferrable:
            self._poll_interval()
        self._end_time = time.time() + self.timeout
        try:
            return super().execute(context)
        finally:
            self.hook.close()

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """One look; a pending one defers in deferrable mode."""
        condition = self._condition or self.build_condition(self.processor_name)
        verdict = self._look(self.before_deferring(condition) if self.deferrable else condition)
        if verdict.done:
            self.log.info("%s", verdict.message)
            return PokeReturnValue(True, self._result(verdict))
        self.log.info("%s", verdict.message)
        if self.deferrable:
            self._defer(condition)
        return False

    def execute_complete(self, context: Context, event: Any = None) -> Any:
        """Resume after the trigger: its event becomes the poke's value or exception."""
        verdict = Verdict.from_event(event)
        self.log.info("%s", verdict.message)
        with contextlib.suppress(Exception):
            self.set_link()
        try:
            return self._result(verdict)
        except AirflowException:
            raise
        except Exception as exc:
            if self.never_fail:
                raise AirflowSkipException("Skipping due to never_fail is set to True.") from exc
            raise

    # -- helpers ---------------------------------------------------------------------------
    def _look(self, condition: Condition) -> Verdict:
        from asp_core.waiting import synchronous

        with self.explained():
            self.set_link()
            return synchronous.look(
                condition,
                self.hook.get_processors(),
                deadline=self._end_time,
                command_timeout=self.hook.settings.command_timeout,
            )

    def _result(self, verdict: Verdict) -> Any:
        return verdict.result(timeout_error=AirflowSensorTimeout, fatal=True, where=self.where)

    def _poll_interval(self) -> float:
        interval = self.poke_interval if self.poll_interval is None else self.poll_interval
        return arguments.seconds(interval, "poll_interval")

    def trigger(self, condition: Condition) -> AspBaseTrigger:
        """The trigger waiting for ``condition`` until this try's ``timeout`` is up."""
        return self.trigger_class(
            processor_name=self.processor_name,
            asp_conn_id=self.asp_conn_id,
            poll_interval=self._poll_interval(),
            end_time=self._end_time,
            **conditions.to_kwargs(condition),
        )

    def _defer(self, condition: Condition) -> None:
        left = max(self._end_time - time.time(), 0.0)
        self.log.info("Deferring: waiting up to %.0f s more in the triggerer.", left)
        self.defer(
            trigger=self.trigger(condition),
            method_name="execute_complete",
            timeout=datetime.timedelta(seconds=left) + DEFER_MARGIN,
        )
