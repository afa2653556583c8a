"""A stream processor's pipeline, as the datasets it reads and writes. Pure: no Airflow, no
pymongo, no OpenLineage.

Inputs come from ``$source`` (a Kafka connection and topic or topics, a cluster connection
with ``db`` and ``coll`` for a change stream, or another connection; inline ``documents``
are no dataset) and from ``$lookup`` stages reading a cluster collection. Outputs come from
``$merge`` (``db.coll``), ``$emit`` (a topic, a time series collection, or another sink) and
the dead letter queue. An ``$https`` or ``$externalFunction`` stage is an input where its
answers enrich the documents (mid-pipeline) and an output as the last stage. Targets chosen
per document by an expression (``"$field"``, ``{"$...": ...}``) are not reported: no static
name exists.

Names follow the OpenLineage naming conventions (namespace ``scheme://authority``, the data
source; name the path of the dataset in it). Where the connection registry
(``listStreamConnections``) gives the servers:

- Kafka (an entry with ``bootstrapServers``): namespace ``kafka://{host}:{port}`` of the
  first server, name ``{topic}``.
- MongoDB (an entry with a ``mongodb://`` ``connectionString``): namespace
  ``mongodb://{host}:{port}`` of the first host, name ``{db}.{coll}``, as the mongo provider
  names them.
- Otherwise (Atlas clusters known only by their cluster name, the sample and in-memory
  connections, HTTPS, S3, ...) the workspace is the data source: namespace
  ``atlas-stream-processing://{workspace}``, where ``{workspace}`` is the workspace host (with
  ``:port`` unless 27017), and name ``{connection}/{topic}``, ``{connection}/{db}.{coll}``,
  ``{connection}/{db}``, ... or ``{connection}`` alone when the connection is the dataset
  (the sample source, ``__testLog``). ``/`` separates the connection, as in a path: the
  names behind it use ``.`` themselves.

:func:`registry_pipeline_lineage` names them from the Admin API's connection documents
instead (the workspace's registry, ``type`` and fields as Atlas returns them):

- ``Kafka``: namespace ``kafka://{host}:{port}`` of the first of ``bootstrapServers``, name
  ``{topic}`` (OpenLineage's Kafka convention).
- ``Cluster``: namespace ``mongodb://{clusterName}.{projectId}:27017``, name ``{db}.{coll}``.
  OpenLineage names no MongoDB convention; this follows the mongo provider's (``mongodb://``,
  ``{db}.{coll}``, port 27017, so Airflow's asset URIs convert to the same namespace) and
  the spec's Redshift entry, which names a cluster known by its identifier rather than its
  host (``redshift://{cluster_identifier}.{region_name}:{port}``): a cluster name is unique
  in its project only (every project's first cluster is ``Cluster0``), so the project ID
  (``clusterGroupId`` when the cluster is in another project) completes it.
- ``Https``: namespace ``{scheme}://{host}[:{port}]`` of its ``url`` (user, query and
  fragment left out), name the URL's path joined with the stage's static ``path`` (``/``
  when empty).
- Any other type, a connection the registry does not list, or no registry: the workspace's
  names above.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

#: The namespace scheme of datasets the registry does not locate (and their asset URIs).
SCHEME = "atlas-stream-processing"
KAFKA_DEFAULT_PORT = 9092
MONGODB_DEFAULT_PORT = 27017
WINDOW_STAGES = ("$tumblingWindow", "$hoppingWindow", "$sessionWindow")


@dataclasses.dataclass(frozen=True)
class LineageDataset:
    """One dataset: its OpenLineage ``namespace`` and ``name``, the workspace connection it
    goes through, its role in the pipeline (``source``, ``lookup``, ``merge``, ``emit``,
    ``dlq``), the ``workspace`` (host, ``:port`` unless 27017) and ``local_name``, the dataset
    behind the connection (a topic, ``db.coll``, ...; None when it is the connection itself)."""

    namespace: str
    name: str
    connection: str
    role: str
    workspace: str
    local_name: str | None = None

    @property
    def workspace_namespace(self) -> str:
        """The namespace of the workspace, ``atlas-stream-processing://{workspace}``."""
        return workspace_namespace(self.workspace)

    @property
    def workspace_name(self) -> str:
        """The name in the workspace's namespace: ``{connection}[/{local_name}]``."""
        return workspace_name(self.connection, self.local_name)

    @property
    def named_by_registry(self) -> bool:
        """Whether Kafka's or MongoDB's conventions name it (not the workspace's)."""
        return self.namespace != self.workspace_namespace

    @property
    def asset_uri(self) -> str:
        """The Airflow asset URI: ``kafka://{server}/{topic}`` and
        ``mongodb://{server}/{db}/{coll}`` as the Kafka and mongo providers write them, else
        ``atlas-stream-processing://{workspace}/{connection}[/{local_name}]``."""
        if self.namespace.startswith("kafka://"):
            return f"{self.namespace}/{quote(self.name, safe='')}"
        if self.namespace.startswith("mongodb://"):
            db, dot, coll = self.name.partition(".")
            if dot and db and coll:
                return f"{self.namespace}/{quote(db, safe='')}/{quote(coll, safe='')}"
        return workspace_uri(self.workspace, self.connection, self.local_name)


@dataclasses.dataclass(frozen=True)
class PipelineLineage:
    """What a processor reads and writes; ``unnamed`` says which targets are left out
    because an expression chooses them."""

    inputs: tuple[LineageDataset, ...] = ()
    outputs: tuple[LineageDataset, ...] = ()
    unnamed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.inputs or self.outputs)


def workspace_of(host: str, port: int | None = None) -> str:
    """The workspace part of a namespace: its host, with ``:port`` unless it is 27017."""
    return host if port in (None, MONGODB_DEFAULT_PORT) else f"{host}:{port}"


def workspace_namespace(workspace: str) -> str:
    """``atlas-stream-processing://{workspace}``: the workspace as a data source."""
    return f"{SCHEME}://{workspace}"


def workspace_name(connection: str, local_name: str | None = None) -> str:
    """A dataset's name in its workspace: ``{connection}`` or ``{connection}/{local_name}``."""
    return connection if local_name is None else f"{connection}/{local_name}"


def workspace_uri(workspace: str, connection: str, local_name: str | None = None) -> str:
    """Namespace and name as one URI (each path segment percent-encoded)."""
    path = [connection] if local_name is None else [connection, local_name]
    return "/".join([workspace_namespace(workspace), *(quote(part, safe="") for part in path)])


# -- the connection registry -------------------------------------------------------------------
def registry(connections: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """``listStreamConnections`` entries by name."""
    return {
        str(entry["name"]): entry
        for entry in connections
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str)
    }


def _first_server(value: Any, default_port: int) -> str | None:
    """The first ``host[:port]`` of a comma-separated string or a list of them, with
    ``default_port`` when it has none."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        return None
    server = next((item.strip() for item in items if isinstance(item, str) and item.strip()), None)
    if server is None:
        return None
    host, colon, port = server.rpartition(":")
    if colon and host and port.isdigit():
        return server
    return f"{server}:{default_port}"


def kafka_server(entry: Mapping[str, Any]) -> str | None:
    """``host:port`` of the first bootstrap server of a registry entry (port 9092 if absent)."""
    return _first_server(entry.get("bootstrapServers"), KAFKA_DEFAULT_PORT)


def mongodb_server(entry: Mapping[str, Any]) -> str | None:
    """``host:port`` of the first host of a registry entry's ``mongodb://`` connection string
    (port 27017 if absent; credentials and options left out)."""
    text = entry.get("connectionString")
    if not isinstance(text, str) or not text.startswith("mongodb://"):
        return None
    hosts = text[len("mongodb://") :].split("/", 1)[0].split("?", 1)[0].rpartition("@")[2]
    return _first_server(hosts, MONGODB_DEFAULT_PORT)


def cluster_namespace(entry: Mapping[str, Any], project_id: str | None) -> str | None:
    """``mongodb://{clusterName}.{project}:27017`` of an Admin API ``Cluster`` document (the
    project: its ``clusterGroupId``, else ``project_id``; left out when neither is known)."""
    cluster = entry.get("clusterName")
    if entry.get("type") != "Cluster" or not isinstance(cluster, str) or not cluster:
        return None
    project = entry.get("clusterGroupId") or project_id
    authority = f"{cluster}.{project}" if isinstance(project, str) and project else cluster
    return f"mongodb://{authority}:{MONGODB_DEFAULT_PORT}"


def https_dataset(entry: Mapping[str, Any], path: Any = None) -> tuple[str, str] | None:
    """``(namespace, name)`` of an Admin API ``Https`` document's ``url``: namespace
    ``{scheme}://{host}[:{port}]`` (no user, query or fragment: they may hold secrets), name
    the URL's path joined with ``path`` when static (``/`` when both are empty)."""
    url = entry.get("url")
    if entry.get("type") != "Https" or not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    authority = host if port in (None, default) else f"{host}:{port}"
    name = parts.path.rstrip("/")
    extra = _static(path)
    if extra:
        name = f"{name}/{extra.lstrip('/')}"
    return f"{parts.scheme}://{authority}", name or "/"


# -- pipeline to datasets ------------------------------------------------------------------------
def _static(value: Any) -> str | None:
    """A name given as a plain string (not an expression such as ``"$field"``)."""
    if isinstance(value, str) and value and not value.startswith("$"):
        return value
    return None


def _names(value: Any) -> list[str | None]:
    """A name or a list of names, each static or None."""
    if isinstance(value, (list, tuple)):
        return [_static(item) for item in value]
    return [_static(value)]


class _Namer:
    """Names datasets from a registry: the wire's (``listStreamConnections``) or, with
    ``admin``, the Admin API's connection documents of project ``project_id``."""

    def __init__(
        self,
        workspace: str,
        connections: Iterable[Mapping[str, Any]],
        *,
        admin: bool = False,
        project_id: str | None = None,
    ) -> None:
        self.workspace = workspace
        self.registry = registry(connections)
        self.admin = admin
        self.project_id = project_id
        self.unnamed: list[str] = []

    def _collection_namespace(self, entry: Mapping[str, Any]) -> str | None:
        if self.admin:
            located = cluster_namespace(entry, self.project_id)
            if located:
                return located
        server = mongodb_server(entry)
        return server and f"mongodb://{server}"

    def endpoint(self, role: str, spec: Mapping[str, Any]) -> Iterator[LineageDataset]:
        """The dataset of an ``$https`` or ``$externalFunction`` stage: the connection (its
        URL with the Admin API's registry, for ``Https``)."""
        connection = _static(spec.get("connectionName"))
        if connection is None:
            if "connectionName" in spec:
                self.unnamed.append(f"{role}: connectionName {spec.get('connectionName')!r}")
            return
        entry = self.registry.get(connection, {})
        found = https_dataset(entry, spec.get("path")) if self.admin else None
        if found is None:
            found = (workspace_namespace(self.workspace), workspace_name(connection))
        yield LineageDataset(found[0], found[1], connection, role, self.workspace)

    def datasets(self, role: str, spec: Mapping[str, Any]) -> Iterator[LineageDataset]:
        """The datasets a stage spec names (``connectionName`` with ``topic``, ``db``/
        ``coll``, ``stream``, ``bucket``, or the connection alone)."""
        connection = _static(spec.get("connectionName"))
        if connection is None:
            if "connectionName" in spec:
                self.unnamed.append(f"{role}: connectionName {spec.get('connectionName')!r}")
            return
        entry = self.registry.get(connection, {})

        def made(namespace: str | None, local_name: str | None) -> LineageDataset:
            """Named in ``namespace`` (a registry server's) or else in the workspace's."""
            if not namespace:
                namespace = workspace_namespace(self.workspace)
                name = workspace_name(connection, local_name)
            else:
                name = local_name or connection
            return LineageDataset(namespace, name, connection, role, self.workspace, local_name)

        if "topic" in spec:
            server = kafka_server(entry)
            for topic in _names(spec.get("topic")):
                if topic is None:
                    self.unnamed.append(f"{role}: a topic of {connection!r} chosen per document")
                else:
                    yield made(server and f"kafka://{server}", topic)
            return
        if "db" in spec:
            db = _static(spec.get("db"))
            colls = _names(spec["coll"]) if "coll" in spec else []
            if db is None or None in colls:
                self.unnamed.append(f"{role}: a collection of {connection!r} chosen per document")
                return
            namespace = self._collection_namespace(entry)
            if not colls:
                yield made(None, db)
            for coll in colls:
                yield made(namespace, f"{db}.{coll}")
            return
        for key in ("stream", "bucket"):
            if key in spec:
                name = _static(spec.get(key))
                if name is None:
                    self.unnamed.append(f"{role}: a {key} of {connection!r} chosen per document")
                else:
                    yield made(None, name)
                return
        yield made(None, None)


def _stage(stage: Any) -> tuple[str, Any]:
    if isinstance(stage, Mapping) and len(stage) == 1:
        ((key, spec),) = stage.items()
        return str(key), spec
    return "", None


def _lookups(pipeline: Sequence[Any]) -> Iterator[Mapping[str, Any]]:
    """``$lookup.from`` specs that name a connection, also inside windows and sub-pipelines."""
    for stage in pipeline:
        key, spec = _stage(stage)
        if not isinstance(spec, Mapping):
            continue
        if key == "$lookup" and isinstance(spec.get("from"), Mapping):
            yield spec["from"]
        inner = spec.get("pipeline")
        if (key in WINDOW_STAGES or key == "$lookup") and isinstance(inner, list):
            yield from _lookups(inner)


def _unique(datasets: Iterable[LineageDataset]) -> tuple[LineageDataset, ...]:
    seen: dict[tuple[str, str], LineageDataset] = {}
    for dataset in datasets:
        seen.setdefault((dataset.namespace, dataset.name), dataset)
    return tuple(seen.values())


#: Stages that call an endpoint: their role in :class:`LineageDataset`.
ENDPOINT_STAGES = {"$https": "https", "$externalFunction": "function"}


def pipeline_lineage(
    pipeline: Sequence[Any],
    dlq: Mapping[str, Any] | None = None,
    *,
    workspace: str,
    connections: Iterable[Mapping[str, Any]] = (),
) -> PipelineLineage:
    """The datasets ``pipeline`` (with dead letter queue ``dlq``) reads and writes, named with
    the registry entries ``connections`` of the workspace ``workspace`` (see the module)."""
    return _lineage(pipeline, dlq, _Namer(workspace, connections))


def registry_pipeline_lineage(
    pipeline: Sequence[Any],
    dlq: Mapping[str, Any] | None = None,
    *,
    workspace: str,
    connections: Iterable[Mapping[str, Any]] | None,
    project_id: str | None = None,
) -> PipelineLineage:
    """The datasets of ``pipeline`` (and ``dlq``) named after the workspace's registry as the
    Admin API returns it (``AdminClient.list_connections``): Kafka by bootstrap server,
    Atlas clusters by cluster name and project, HTTPS endpoints by URL (see the module).

    ``workspace``: the workspace host (with ``:port`` unless 27017), the namespace of what
    the registry does not locate; ``connections``: the registry's documents, None when it
    could not be read (every dataset is then named in the workspace); ``project_id``: the
    project (Atlas's ``groupId``) whose clusters the ``Cluster`` connections name.
    """
    namer = _Namer(workspace, connections or (), admin=True, project_id=project_id)
    return _lineage(pipeline, dlq, namer)


def _lineage(
    pipeline: Sequence[Any], dlq: Mapping[str, Any] | None, namer: _Namer
) -> PipelineLineage:
    inputs: list[LineageDataset] = []
    outputs: list[LineageDataset] = []
    stages = [_stage(stage) for stage in pipeline]
    for index, (key, spec) in enumerate(stages):
        if not isinstance(spec, Mapping):
            continue
        if key == "$source" and "documents" not in spec:
            inputs.extend(namer.datasets("source", spec))
        elif key == "$merge" and isinstance(spec.get("into"), Mapping):
            outputs.extend(namer.datasets("merge", spec["into"]))
        elif key == "$emit":
            outputs.extend(namer.datasets("emit", spec))
        elif key in ENDPOINT_STAGES:
            found = namer.endpoint(ENDPOINT_STAGES[key], spec)
            (outputs if index == len(stages) - 1 else inputs).extend(found)
    for spec in _lookups(pipeline):
        inputs.extend(namer.datasets("lookup", spec))
    if dlq:
        outputs.extend(namer.datasets("dlq", dlq))
    return PipelineLineage(_unique(inputs), _unique(outputs), tuple(namer.unnamed))
