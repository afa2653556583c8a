"""A stream processor's pipeline, as the datasets it reads and writes. Pure: no Airflow, no
pymongo, no OpenLineage.

Inputs come from ``$source`` (a Kafka connection and topic or topics, a cluster connection
with ``db`` and ``coll`` for a change stream, or another connection; inline ``documents``
are no dataset) and from ``$lookup`` stages reading a cluster collection. Outputs come from
``$merge`` (``db.coll``), ``$emit`` (a topic, a time series collection, or another sink) and
the dead letter queue. Targets chosen per document by an expression (``"$field"``,
``{"$...": ...}``) are not reported: no static name exists.

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
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

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
    def __init__(self, workspace: str, connections: Iterable[Mapping[str, Any]]) -> None:
        self.workspace = workspace
        self.registry = registry(connections)
        self.unnamed: list[str] = []

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
            server = mongodb_server(entry)
            if not colls:
                yield made(None, db)
            for coll in colls:
                yield made(server and f"mongodb://{server}", f"{db}.{coll}")
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


def pipeline_lineage(
    pipeline: Sequence[Any],
    dlq: Mapping[str, Any] | None = None,
    *,
    workspace: str,
    connections: Iterable[Mapping[str, Any]] = (),
) -> PipelineLineage:
    """The datasets ``pipeline`` (with dead letter queue ``dlq``) reads and writes, named with
    the registry entries ``connections`` of the workspace ``workspace`` (see the module)."""
    namer = _Namer(workspace, connections)
    inputs: list[LineageDataset] = []
    outputs: list[LineageDataset] = []
    for stage in pipeline:
        key, spec = _stage(stage)
        if not isinstance(spec, Mapping):
            continue
        if key == "$source" and "documents" not in spec:
            inputs.extend(namer.datasets("source", spec))
        elif key == "$merge" and isinstance(spec.get("into"), Mapping):
            outputs.extend(namer.datasets("merge", spec["into"]))
        elif key == "$emit":
            outputs.extend(namer.datasets("emit", spec))
    for spec in _lookups(pipeline):
        inputs.extend(namer.datasets("lookup", spec))
    if dlq:
        outputs.extend(namer.datasets("dlq", dlq))
    return PipelineLineage(_unique(inputs), _unique(outputs), tuple(namer.unnamed))
