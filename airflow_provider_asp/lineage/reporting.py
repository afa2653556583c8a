"""What the operators report: an ``OperatorLineage`` for the OpenLineage provider.

The OpenLineage provider is optional (the ``openlineage`` extra): it is imported only inside
:func:`operator_lineage`, which returns None without it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from asp_core.jsonable import to_jsonable
from asp_core.lineage import LineageDataset, PipelineLineage, workspace_namespace

#: The "dialect" of the pipeline in the job's SQL facet.
PIPELINE_DIALECT = "atlas-stream-processing"


def pipeline_text(pipeline: Sequence[Any]) -> str:
    """The pipeline as the job's "query": indented JSON (Extended JSON for BSON values)."""
    return json.dumps(to_jsonable(list(pipeline)), indent=2)


def openlineage_installed() -> bool:
    """Whether the OpenLineage provider and its client can be imported."""
    try:
        import airflow.providers.openlineage.extractors  # noqa: F401
        import openlineage.client  # noqa: F401
    except ImportError:
        return False
    return True


def operator_lineage(
    lineage: PipelineLineage, *, pipeline: Sequence[Any], processor_name: str, workspace: str
) -> Any:
    """The ``OperatorLineage`` of a processor: its input and output datasets, the pipeline as
    the job's ``sql`` facet, and the processor as the run's ``externalQuery``; None when the
    OpenLineage provider is not installed."""
    try:
        from airflow.providers.common.compat.openlineage.facet import (
            Dataset,
            ExternalQueryRunFacet,
            Identifier,
            SQLJobFacet,
            SymlinksDatasetFacet,
        )
        from airflow.providers.openlineage.extractors import OperatorLineage
    except ImportError:
        return None

    def dataset(item: LineageDataset) -> Any:
        facets: dict[str, Any] = {}
        if item.named_by_registry:  # also known by its name in the workspace
            facets["symlinks"] = SymlinksDatasetFacet(
                identifiers=[
                    Identifier(
                        namespace=item.workspace_namespace, name=item.workspace_name, type="TABLE"
                    )
                ]
            )
        return Dataset(namespace=item.namespace, name=item.name, facets=facets)

    return OperatorLineage(
        inputs=[dataset(item) for item in lineage.inputs],
        outputs=[dataset(item) for item in lineage.outputs],
        job_facets={"sql": SQLJobFacet(query=pipeline_text(pipeline), dialect=PIPELINE_DIALECT)},
        run_facets={
            "externalQuery": ExternalQueryRunFacet(
                externalQueryId=processor_name, source=workspace_namespace(workspace)
            )
        },
    )
