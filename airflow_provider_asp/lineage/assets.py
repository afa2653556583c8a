"""The ``atlas-stream-processing`` asset URI scheme, which the provider registers
(``asset-uris`` in its provider info), so that Airflow normalizes these URIs and the
OpenLineage provider turns such assets (declared inlets and outlets) into datasets.

``atlas-stream-processing://{workspace}/{connection}[/{name}]``: ``{workspace}`` is the
workspace host (``:port`` unless 27017), ``{connection}`` a connection of its registry and
``{name}`` the dataset behind it (a topic, ``db.coll``; absent when the connection is the
dataset), each percent-encoded. Its OpenLineage dataset: namespace
``atlas-stream-processing://{workspace}``, name ``{connection}[/{name}]``, as
:mod:`asp_core.lineage` names it. Airflow is imported only when a function runs.

:func:`pipeline_assets` gives a pipeline's datasets as assets to declare as a task's
``inlets`` and ``outlets``: the Airflow UI's asset graph shows declared ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, unquote, urlsplit

from asp_core.lineage import SCHEME, pipeline_lineage, workspace_namespace, workspace_uri

if TYPE_CHECKING:
    from airflow.sdk import Asset


def _segments(uri: SplitResult) -> list[str]:
    """The path's segments, still encoded (an empty one where ``//`` is)."""
    return uri.path.removeprefix("/").split("/")


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Airflow's normalizer for the scheme: a workspace and a ``/{connection}[/{name}]``
    path."""
    if not uri.netloc:
        raise ValueError(
            f"An {SCHEME} URI needs the workspace host: {SCHEME}://host/connection[/name]"
        )
    parts = _segments(uri)
    if len(parts) > 2 or not all(parts):
        raise ValueError(f"An {SCHEME} URI path is /{{connection}}[/{{name}}], not {uri.path!r}")
    return uri


def asset_uri(workspace: str, connection: str, name: str | None = None) -> str:
    return workspace_uri(workspace, connection, name)


def create_asset(
    *,
    workspace: str,
    connection: str,
    name: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Asset:
    """The asset of dataset ``name`` behind ``connection`` of ``workspace`` (the
    connection itself without ``name``)."""
    from airflow.sdk import Asset

    return Asset(uri=asset_uri(workspace, connection, name), extra=extra or {})


def convert_asset_to_openlineage(asset: Asset, lineage_context: Any = None) -> Any:
    """The OpenLineage dataset of such an asset."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    parsed = urlsplit(asset.uri)
    name = "/".join(unquote(part) for part in _segments(parsed))
    return Dataset(namespace=workspace_namespace(parsed.netloc), name=name)


def pipeline_assets(
    pipeline: Sequence[Any],
    dlq: Mapping[str, Any] | None = None,
    *,
    workspace: str,
    connections: Iterable[Mapping[str, Any]] = (),
) -> tuple[list[Asset], list[Asset]]:
    """``(inlets, outlets)``: the assets of what ``pipeline`` (and ``dlq``) reads and writes,
    named as the operators' lineage names them (``workspace``: the workspace host, with
    ``:port`` unless 27017; ``connections``: registry entries with servers, if known).

    Declared as a task's ``inlets``/``outlets`` they appear in the Airflow UI's asset graph;
    an outlet also gets an asset event each time the task succeeds."""
    from airflow.sdk import Asset

    lineage = pipeline_lineage(pipeline, dlq, workspace=workspace, connections=connections)
    return (
        [Asset(uri=item.asset_uri) for item in lineage.inputs],
        [Asset(uri=item.asset_uri) for item in lineage.outputs],
    )
