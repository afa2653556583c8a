"""What the ASP operators share: the processor name and connection, the lazy hook, the
Atlas UI link, the bounded wait's parameters and the processor definition's arguments.

Importing this module imports neither pymongo nor the hook, and touches no connection.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_asp.links.asp import AspProcessorLink, atlas_workspace_url
from airflow_provider_asp.operators import arguments
from airflow_provider_asp.operators.actions import ProcessorActions
from airflow_provider_asp.processor_definition import ProcessorDefinition
from airflow_provider_asp.serialization import to_jsonable

try:
    from airflow.sdk.configuration import conf
except ImportError:  # pragma: no cover - Airflow 3.0
    from airflow.configuration import conf  # type: ignore[no-redef, unused-ignore]

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_asp.hooks.asp import AspHook
    from airflow_provider_asp.stream_processing import (
        CreateStreamProcessorOptions,
        StreamProcessorInfo,
    )

DEFAULT_DEFERRABLE: bool = conf.getboolean("operators", "default_deferrable", fallback=False)
DEFAULT_WAIT_TIMEOUT = 600.0
DEFAULT_POLL_INTERVAL = 5.0


def info_to_dict(info: StreamProcessorInfo) -> dict[str, Any]:
    """The processor info as plain JSON (typed fields only; internal ids stay out)."""
    fields = {f.name: getattr(info, f.name) for f in dataclasses.fields(info) if f.name != "raw"}
    return dict(to_jsonable(fields))


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
    :param deferrable: wait in the triggerer. Until the state trigger exists the wait
        runs in the worker (the same bounded wait, logged as such).
    """

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
        if self.deferrable and self.wait_for_completion:
            self.log.info(
                "deferrable=True: the processor state trigger is not available yet, so the "
                "wait runs in the worker."
            )
        return self.actions(timeout, poll_interval)


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
