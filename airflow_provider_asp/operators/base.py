"""What the ASP operators share: the processor name and connection, the lazy hook, the
Atlas UI link, the bounded wait's parameters and the processor definition's arguments.

Importing this module imports neither pymongo nor the hook, and touches no connection.
"""

from __future__ import annotations

import contextlib
import datetime
import time
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_asp.exceptions import AspWaitTimeoutError
from airflow_provider_asp.links.asp import AspProcessorLink, atlas_workspace_url
from airflow_provider_asp.operators import arguments
from airflow_provider_asp.operators.actions import ProcessorActions
from airflow_provider_asp.processor_definition import ProcessorDefinition
from airflow_provider_asp.verdict import Verdict, info_to_dict

try:
    from airflow.sdk.configuration import conf
except ImportError:  # pragma: no cover - Airflow 3.0
    from airflow.configuration import conf  # type: ignore[no-redef, unused-ignore]

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_asp.hooks.asp import AspHook
    from airflow_provider_asp.stream_processing import CreateStreamProcessorOptions

DEFAULT_DEFERRABLE: bool = conf.getboolean("operators", "default_deferrable", fallback=False)
DEFAULT_WAIT_TIMEOUT = 600.0
DEFAULT_POLL_INTERVAL = 5.0

__all__ = ["DEFAULT_DEFERRABLE", "AspBaseOperator", "AspWaitingOperator", "info_to_dict"]


class AspBaseOperator(BaseOperator):
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
        self.atlas_ui_url: str | None = None

    @cached_property
    def hook(self) -> AspHook:
        """The hook, built on first use (never at DAG parse time)."""
        from airflow_provider_asp.hooks.asp import AspHook

        return AspHook(asp_conn_id=self.asp_conn_id)

    def execute(self, context: Context) -> Any:
        name = arguments.processor_name(self.processor_name)
        try:
            return self.run_for(name)
        except Exception as exc:
            explained = self.hook.explain(exc)
            if explained is None:
                raise
            raise explained from exc
        finally:
            self.hook.close()

    def run_for(self, name: str) -> Any:
        """The operator's work on the checked processor ``name``."""
        raise NotImplementedError

    def actions(
        self,
        wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> ProcessorActions:
        """The lifecycle actions on the connection's workspace (connects lazily)."""
        settings = self.hook.settings
        self.atlas_ui_url = atlas_workspace_url(settings.project_id, settings.workspace_name)
        return ProcessorActions(
            self.hook.get_processors(),
            self.log,
            wait_timeout=wait_timeout,
            poll_interval=poll_interval,
        )


class AspWaitingOperator(AspBaseOperator):
    """An operator that may wait for a processor state: the bounded wait's parameters.

    :param wait_for_completion: wait until the processor reaches the state.
    :param poll_interval: seconds between two reads while waiting.
    :param timeout: seconds the wait may take at most.
    :param deferrable: wait in the triggerer (start and stop): the operator acts, reads
        the state once, and defers only if the state is not reached yet. The waits of
        the other operators are steps of one change and run in the worker.
    """

    #: Whether the final wait can run in the triggerer (start and stop).
    defers_wait = False

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

    def waiting_actions(self) -> ProcessorActions:
        """Actions with this operator's checked wait parameters."""
        timeout = arguments.seconds(self.timeout, "timeout")
        poll_interval = arguments.seconds(self.poll_interval, "poll_interval")
        if self.deferrable and self.wait_for_completion and not self.defers_wait:
            self.log.info(
                "deferrable=True: %s waits in the worker (only start and stop defer).",
                type(self).__name__,
            )
        return self.actions(timeout, poll_interval)

    @property
    def defers(self) -> bool:
        """Whether this run waits in the triggerer."""
        return self.defers_wait and self.deferrable and self.wait_for_completion

    def defer_until(
        self,
        name: str,
        target: str,
        *,
        ignore_failure_at: datetime.datetime | None = None,
        started_by_task: bool = False,
        cancel_on_kill: bool = False,
    ) -> None:
        """Wait in the triggerer until ``name`` is ``target``; resume in
        :meth:`execute_complete`. Bounded by ``timeout``."""
        from airflow_provider_asp.triggers.asp import DEFER_MARGIN, AspProcessorStateTrigger
        from airflow_provider_asp.version_compat import AIRFLOW_V_3_3_PLUS

        timeout = arguments.seconds(self.timeout, "timeout")
        stop_on_kill = cancel_on_kill and started_by_task
        if stop_on_kill and not AIRFLOW_V_3_3_PLUS:
            self.log.warning(
                "Airflow < 3.3 cannot stop the processor when a deferred task is killed."
            )
        self.log.info(
            "Deferring: waiting up to %g s in the triggerer for %r to be %s.",
            timeout,
            name,
            target,
        )
        trigger = AspProcessorStateTrigger(
            processor_name=name,
            asp_conn_id=self.asp_conn_id,
            poll_interval=arguments.seconds(self.poll_interval, "poll_interval"),
            end_time=time.time() + timeout,
            target_states=[target],
            ignore_failure_at=None if ignore_failure_at is None else ignore_failure_at.isoformat(),
            cancel_on_kill=cancel_on_kill,
            started_by_task=started_by_task,
        )
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            timeout=datetime.timedelta(seconds=timeout) + DEFER_MARGIN,
        )

    def execute_complete(self, context: Context, event: Any = None) -> Any:
        """Resume after the state trigger: the processor's info, or the same error the
        wait in the worker raises."""
        verdict = Verdict.from_event(event)
        self.log.info("%s", verdict.message)
        with contextlib.suppress(Exception):
            settings = self.hook.settings
            self.atlas_ui_url = atlas_workspace_url(settings.project_id, settings.workspace_name)
        return verdict.result(timeout_error=AspWaitTimeoutError, fatal=False)


class AspDefinitionOperator(AspWaitingOperator):
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

    def definition(self) -> tuple[ProcessorDefinition, CreateStreamProcessorOptions]:
        """The checked definition, and the options to create it with."""
        from airflow_provider_asp.stream_processing import CreateStreamProcessorOptions

        definition = ProcessorDefinition(
            arguments.pipeline(self.pipeline), arguments.document(self.dlq, "dlq"), self.tier
        )
        with arguments.client_checks():
            options = CreateStreamProcessorOptions(
                dlq=definition.dlq or None,
                stream_meta_field_name=self.stream_meta_field_name,
                tier=self.tier,
                failover=self.failover,
            )
        return definition, options
