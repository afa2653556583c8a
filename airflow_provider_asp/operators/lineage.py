"""Lineage of the operators that define or run a processor (create, deploy, modify, start):
the datasets its pipeline reads and writes, reported to OpenLineage.

:class:`AspLineageMixin` goes before the operator's base class. It gives the operator the
OpenLineage provider's ``get_openlineage_facets_on_start/complete/failure``, which only run
when someone listens (the OpenLineage provider installed and enabled): otherwise nothing is
read, nothing is imported and the operator sends exactly the commands it always sent.

The operator reports through these methods only, not also to Airflow's hook lineage
collector: OpenLineage reads that collector only for a task whose own methods report nothing,
and the collector is one per process, never emptied, so under ``airflow dags test`` or
``dag.test()`` (every task in one process) what one task recorded there was reported again by
each later task that reports nothing itself (a sensor, a stop, a drop).

What lineage reads, with a client of its own, each read bounded by :data:`LINEAGE_TIMEOUT`:
the connection registry (``listStreamConnections``, to name Kafka and MongoDB datasets after
their servers) and, when the operator's arguments do not give the pipeline or the dead letter
queue, the processor (``getStreamProcessor``). A failed read costs the names (the registry)
or the lineage (the processor), never the task.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asp_core.lineage import PipelineLineage

log = logging.getLogger(__name__)

#: Seconds each read for lineage may take.
LINEAGE_TIMEOUT = 10.0


class ProcessorLineage:
    """A processor's lineage as computed once: the datasets, its pipeline, its workspace."""

    def __init__(
        self, lineage: PipelineLineage, pipeline: list[Any], processor_name: str, workspace: str
    ) -> None:
        self.lineage = lineage
        self.pipeline = pipeline
        self.processor_name = processor_name
        self.workspace = workspace


class AspLineageMixin:
    """OpenLineage facets for an ASP operator.

    The pipeline and dead letter queue are the operator's ``pipeline`` and ``dlq`` arguments
    when it has them (after templating), else the processor's (read under ``new_name``
    first, for a rename).
    """

    processor_name: str
    asp_conn_id: str

    # -- OpenLineage --------------------------------------------------------------------------
    def get_openlineage_facets_on_start(self) -> Any:
        return self._operator_lineage()

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        return self._operator_lineage()

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        return self._operator_lineage()

    def _operator_lineage(self) -> Any:
        from airflow_provider_asp.lineage.reporting import openlineage_installed, operator_lineage

        if not openlineage_installed():
            return None
        found = self.processor_lineage()
        if found is None:
            return None
        return operator_lineage(
            found.lineage,
            pipeline=found.pipeline,
            processor_name=found.processor_name,
            workspace=found.workspace,
        )

    # -- the lineage, computed once -----------------------------------------------------------
    def processor_lineage(self) -> ProcessorLineage | None:
        """The processor's lineage (computed on first use, then kept); None if its pipeline
        cannot be known (logged)."""
        cached = getattr(self, "_asp_lineage", None)
        if cached is not None:
            return cached
        try:
            found = self._compute_lineage()
        except Exception as exc:
            log.warning("No lineage for stream processor %r: %s", self.processor_name, exc)
            return None
        self._asp_lineage = found
        return found

    def _compute_lineage(self) -> ProcessorLineage | None:
        import pymongo

        from airflow_provider_asp.hooks.asp import AspHook
        from asp_core import arguments
        from asp_core.lineage import pipeline_lineage, workspace_of

        given_pipeline = getattr(self, "pipeline", None)
        given_dlq = getattr(self, "dlq", None)
        pipeline = None if given_pipeline is None else arguments.pipeline(given_pipeline)
        dlq = None if given_dlq is None else arguments.document(given_dlq, "dlq")
        name = arguments.processor_name(self.processor_name)
        with AspHook(asp_conn_id=self.asp_conn_id) as hook:
            processors = hook.get_processors()
            if pipeline is None or given_dlq is None:
                info = None
                with pymongo.timeout(LINEAGE_TIMEOUT):
                    for candidate in (getattr(self, "new_name", None), name):
                        if candidate and info is None:
                            info = _find(processors, candidate)
                if info is not None:
                    name = info.name or name
                    pipeline = info.pipeline if pipeline is None else pipeline
                    dlq = info.dlq if given_dlq is None else dlq
            if pipeline is None:
                log.info("No lineage: stream processor %r does not exist.", name)
                return None
            settings, reference = hook.settings, hook.admin_reference
            workspace = workspace_of(settings.host, settings.port)
            if reference is not None:  # the registry as the Admin API describes it
                lineage = _registry_lineage(pipeline, dlq, workspace, reference)
            else:
                try:
                    with pymongo.timeout(LINEAGE_TIMEOUT):
                        connections = processors.list_connections()
                except Exception as exc:
                    log.warning(
                        "Could not read the connection registry (datasets are named in the "
                        "%s namespace): %s",
                        "atlas-stream-processing",
                        exc,
                    )
                    connections = []
                lineage = pipeline_lineage(
                    pipeline, dlq, workspace=workspace, connections=connections
                )
        for target in lineage.unnamed:
            log.info("Not in the lineage of %r (no static name): %s", name, target)
        return ProcessorLineage(lineage, list(pipeline), name, workspace)


def _registry_lineage(
    pipeline: list[Any], dlq: dict[str, Any] | None, workspace: str, reference: Any
) -> PipelineLineage:
    """The lineage named after the registry the Admin API returns (Kafka bootstrap servers,
    Atlas cluster names and project, HTTPS URLs); read failures name datasets in the
    workspace."""
    from airflow_provider_asp.hooks.admin import AspAdminHook
    from asp_core.lineage import registry_pipeline_lineage

    connections: list[dict[str, Any]] | None = None
    project_id: str | None = None
    bounds = {"timeout": LINEAGE_TIMEOUT, "deadline": LINEAGE_TIMEOUT, "attempts": 2}
    try:
        with AspAdminHook(reference.admin_conn_id, **bounds) as admin:
            project_id = admin.settings.project_id
            connections = admin.get_conn().list_connections(reference.workspace_name)
    except Exception as exc:
        log.warning(
            "Could not read the connection registry through the Admin API (datasets are "
            "named in the workspace): %s",
            exc,
        )
    return registry_pipeline_lineage(
        pipeline, dlq, workspace=workspace, connections=connections, project_id=project_id
    )


def _find(processors: Any, name: str) -> Any:
    from asp_core.waiting.synchronous import find

    return find(processors, name)
