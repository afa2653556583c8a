"""The emulated Atlas project: its workspaces and their connection registries.

Every workspace has a wire side (:class:`~asp_emulator.admin.engines.WireSide`; its engine is
reached with :meth:`Project.engine`): the emulator's own is the
:class:`~asp_emulator.workspace.Workspace`'s; one created over HTTP gets a wire server of its
own on 127.0.0.1 (reported in ``hostnames``), stopped once its deletion is done. A connection
created in a workspace's registry is what that workspace's ``$source``/``$merge``/``$emit``
resolve once READY, and stops resolving once it is gone. Used in the event loop's thread only.
"""

from __future__ import annotations

import asyncio
import copy
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import bson

from asp_emulator.admin import bodies
from asp_emulator.admin.engines import Launcher, WireSide
from asp_emulator.admin.errors import ApiError
from asp_emulator.engine import Connections
from asp_emulator.engine.connections import SOLAR, TEST_LOG
from asp_emulator.options import TIERS
from asp_emulator.processors import ProcessorRegistry

#: Connection types Atlas lists (fields are passed through).
CONNECTION_TYPES = tuple(bodies.TYPE_FIELDS)
#: Fields never returned (write-only secrets), at any depth.
SECRET_FIELDS = frozenset({"password", "clientSecret", "sslKey", "sslKeyPassword"})
WORKSPACE_PATCH_FIELDS = frozenset(bodies.WORKSPACE_UPDATE)
CLOUD_PROVIDERS = ("AWS", "AZURE", "GCP")
#: Atlas's 409 to a DELETE of a Kafka connection still provisioning (PENDING): retry later.
KAFKA_DEPLOYING = "STREAM_KAFKA_CONNECTION_IS_DEPLOYING"
#: workspace and connection names: ASCII letters, digits, ``-`` and ``_``, 1 to 64
NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass
class Record:
    """A workspace or connection: its document (secrets included) and pending transition."""

    doc: dict[str, Any]
    due: float | None = None  # time.monotonic() of the next transition
    deleting: bool = False
    starting: bool = False  # a workspace whose wire side is being launched
    connections: dict[str, Record] = field(default_factory=dict)
    wire: WireSide | None = None  # a workspace's (None for a connection)


class Project:
    """One project (``project_id``) whose first workspace is the emulator's own
    (``workspace_name``: its registry ``wire``, its ``engine``); ``launch`` starts the wire
    side of each workspace created over HTTP (without it they are records only)."""

    def __init__(
        self,
        project_id: str,
        workspace_name: str,
        wire: Connections,
        hostnames: Callable[[], list[str]],
        stream_config: dict[str, str],
        *,
        ready_delay: float = 0.0,
        delete_delay: float = 0.0,
        engine: ProcessorRegistry | None = None,
        launch: Launcher | None = None,
    ) -> None:
        self.project_id = project_id
        self.own = workspace_name
        self.wire = wire
        self._hostnames = hostnames
        self._launch = launch
        self.ready_delay = ready_delay
        self.delete_delay = delete_delay
        record = Record(self._workspace_doc(workspace_name, "AWS", "VIRGINIA_USA"))
        record.doc["streamConfig"] = dict(stream_config)
        if engine is not None:
            record.wire = WireSide(workspace_name, engine)
        self.workspaces: dict[str, Record] = {workspace_name: record}
        self._stopping: set[asyncio.Task[None]] = set()

    def engine(self, name: str) -> ProcessorRegistry:
        """The stream processing engine of workspace ``name``, the one the wire serves (its
        processors; its connection registry, ``.connections``): the one way in for the
        processor endpoints. A 404 :class:`ApiError` for an unknown workspace."""
        wire = self._workspace(name).wire
        if wire is None:  # records only (no launcher), or still starting
            raise ApiError(
                404,
                "STREAM_TENANT_NOT_FOUND_FOR_NAME",
                f"Workspace {name} is not served on the wire.",
                [name],
            )
        return wire.engine

    async def close(self) -> None:
        """Stop the wire side of the workspaces created over HTTP (the emulator stops)."""
        for name, record in list(self.workspaces.items()):
            if name != self.own and record.wire is not None:
                await record.wire.stop()
        if self._stopping:
            await asyncio.gather(*self._stopping, return_exceptions=True)

    # -- transitions ------------------------------------------------------------------------
    def settle(self) -> None:
        """Apply every transition that is due: PENDING → READY, DELETING → gone."""
        now = time.monotonic()
        for ws_name, ws in list(self.workspaces.items()):
            registry = ws.wire.connections if ws.wire is not None else None
            if ws_name == self.own:
                registry = self.wire
            for name, conn in list(ws.connections.items()):
                if conn.due is None or conn.due > now:
                    continue
                conn.due = None
                if conn.deleting:
                    del ws.connections[name]
                    if registry is not None and name != SOLAR:
                        registry.remove(name)
                else:
                    conn.doc["state"] = "READY"
                    if registry is not None:
                        registry.add(name, conn.doc["type"])
            if ws.deleting and not ws.starting and ws.due is not None and ws.due <= now:
                del self.workspaces[ws_name]
                if ws.wire is not None:
                    self._stop_later(ws.wire)

    def _stop_later(self, wire: WireSide) -> None:
        task = asyncio.get_running_loop().create_task(wire.stop())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    def finish_transitions(self) -> None:
        """Make every pending transition due now, and apply it."""
        for ws in self.workspaces.values():
            for conn in [ws, *ws.connections.values()]:
                if conn.due is not None:
                    conn.due = 0.0
        self.settle()

    def _schedule(self, record: Record, delay: float) -> None:
        record.due = time.monotonic() + delay
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, self.settle)
        else:
            self.settle()

    # -- workspaces ---------------------------------------------------------------------------
    def _workspace_doc(self, name: str, provider: str, region: str) -> dict[str, Any]:
        return {
            "_id": str(bson.ObjectId()),
            "groupId": self.project_id,
            "name": name,
            "dataProcessRegion": {"cloudProvider": provider, "region": region},
            "streamConfig": {"tier": "SP30"},
            "hostnames": [],
        }

    def workspace(self, name: str, *, include_connections: bool = False) -> dict[str, Any]:
        record = self._workspace(name)
        doc = self._view(name, record)
        if include_connections:
            doc["connections"] = self.connections(name)
        return doc

    def _view(self, name: str, record: Record) -> dict[str, Any]:
        """Workspace ``name``'s document, with the hostnames it answers at."""
        doc = copy.deepcopy(record.doc)
        if name == self.own:
            doc["hostnames"] = self._hostnames()
        elif record.wire is not None:
            doc["hostnames"] = [f"127.0.0.1:{record.wire.port}"]
        return doc

    def list_workspaces(self) -> list[dict[str, Any]]:
        self.settle()
        return [self.workspace(name) for name, r in self.workspaces.items() if not r.starting]

    async def create_workspace(self, body: dict[str, Any], sample: bool) -> dict[str, Any]:
        body = bodies.check(body, bodies.WORKSPACE)
        name = _name(body)
        self.settle()
        if name in self.workspaces:
            raise ApiError(
                409, "STREAM_TENANT_NAME_ALREADY_EXISTS", f"Workspace {name} exists.", [name]
            )
        region = body.get("dataProcessRegion")
        if region is None or not {"cloudProvider", "region"} <= region.keys():
            raise ApiError(
                400,
                "MISSING_ATTRIBUTE",
                "The required attribute dataProcessRegion was not specified.",
                ["dataProcessRegion"],
            )
        for item in [region, *body.get("failoverRegions", [])]:
            _enum(item.get("cloudProvider"), CLOUD_PROVIDERS, "cloudProvider")
        if len(body.get("failoverRegions", [])) > 2:
            raise ApiError(
                400, "INVALID_ATTRIBUTE", "At most 2 failoverRegions.", ["failoverRegions"]
            )
        stream_config = {"tier": "SP30", **_stream_config(body.get("streamConfig", {}))}
        record = Record(self._workspace_doc(name, region["cloudProvider"], region["region"]))
        record.doc["streamConfig"] = stream_config
        if body.get("failoverRegions"):
            record.doc["failoverRegions"] = copy.deepcopy(body["failoverRegions"])
        if sample and body.get("sampleConnections", {}).get("solar"):
            record.connections[SOLAR] = Record({"name": SOLAR, "type": "Sample", "state": "READY"})
        self.workspaces[name] = record  # the name is taken while the engine starts
        if self._launch is not None:
            record.starting = True  # a deletion asked for meanwhile waits for the launch
            try:
                record.wire = await self._launch(name, stream_config)
            except BaseException:
                if self.workspaces.get(name) is record:
                    del self.workspaces[name]
                raise
            finally:
                record.starting = False
        doc = self._view(name, record)  # created: its answer, even if deleted since
        if record.deleting and record.due is not None:  # deleted while it started
            self._schedule(record, max(0.0, record.due - time.monotonic()))
        return doc

    def update_workspace(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        record = self._workspace(name)
        body = bodies.check(body, bodies.WORKSPACE_UPDATE)
        if "cloudProvider" in body:
            _enum(body["cloudProvider"], CLOUD_PROVIDERS, "cloudProvider")
        if len(body.get("failoverRegions", [])) > 2:
            raise ApiError(
                400, "INVALID_ATTRIBUTE", "At most 2 failoverRegions.", ["failoverRegions"]
            )
        stream_config = _stream_config(body.get("streamConfig", {}))
        region = record.doc["dataProcessRegion"]
        for key in ("cloudProvider", "region"):
            if key in body:
                region[key] = body[key]
        if "failoverRegions" in body:
            record.doc["failoverRegions"] = copy.deepcopy(body["failoverRegions"])
        record.doc["streamConfig"].update(stream_config)
        if record.wire is not None:
            defaults = record.wire.engine.defaults
            defaults.default_tier = record.doc["streamConfig"].get("tier", defaults.default_tier)
            defaults.max_tier = record.doc["streamConfig"].get("maxTierSize", defaults.max_tier)
        return self.workspace(name)

    def delete_workspace(self, name: str) -> None:
        record = self._workspace(name)
        if name == self.own:
            raise ApiError(
                400,
                "CANNOT_DELETE_EMULATED_WORKSPACE",
                "The emulator's own workspace cannot be deleted.",
                [name],
            )
        if not record.deleting:
            record.deleting = True
            self._schedule(record, self.delete_delay)

    def _workspace(self, name: str) -> Record:
        self.settle()
        record = self.workspaces.get(name)
        if record is None:
            raise ApiError(
                404, "STREAM_TENANT_NOT_FOUND_FOR_NAME", f"No workspace named {name}.", [name]
            )
        return record

    # -- connections ----------------------------------------------------------------------------
    def connections(self, workspace: str) -> list[dict[str, Any]]:
        record = self._workspace(workspace)
        docs = [_public(c.doc) for c in record.connections.values()]
        if workspace == self.own:
            docs = self._wire_only() + docs
        return docs

    def _wire_only(self) -> list[dict[str, Any]]:
        """The wire registry's connections not made over HTTP (READY; ``__testLog`` is
        internal): ``sample_stream_solar`` is a Sample, a test's in-memory log a Kafka."""
        made = self.workspaces[self.own].connections
        return [
            {
                "name": c["name"],
                "type": "Sample" if c["name"] == SOLAR else "Kafka",
                "state": "READY",
            }
            for c in self.wire.list()
            if c["name"] not in made and c["name"] != TEST_LOG
        ]

    def connection(self, workspace: str, name: str) -> dict[str, Any]:
        for doc in self.connections(workspace):
            if doc["name"] == name:
                return doc
        raise ApiError(
            404,
            "STREAM_CONNECTION_NOT_FOUND",
            f"No connection named {name} in {workspace}.",
            [name, workspace],
        )

    def create_connection(self, workspace: str, body: dict[str, Any]) -> dict[str, Any]:
        record = self._workspace(workspace)
        body = bodies.check(body, bodies.CONNECTION)
        name = _name(body)
        kind = _enum(body.get("type"), CONNECTION_TYPES, "type")
        _type_fields(body, kind)
        for required in sorted(bodies.TYPE_REQUIRED.get(kind, ())):
            if required not in body:
                raise ApiError(
                    400,
                    "MISSING_ATTRIBUTE",
                    f"The required attribute {required} was not specified.",
                    [required],
                )
        if name in {c["name"] for c in self.connections(workspace)} or name == TEST_LOG:
            raise ApiError(
                409, "STREAM_CONNECTION_NAME_ALREADY_EXISTS", f"Connection {name} exists.", [name]
            )
        conn = Record({**copy.deepcopy(body), "state": "PENDING"})
        record.connections[name] = conn
        self._schedule(conn, self.ready_delay)
        return _public(conn.doc)

    def update_connection(self, workspace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        conn = self._made(workspace, name)
        body = bodies.check(body, bodies.CONNECTION)
        if "type" in body and body["type"] != conn.doc["type"]:
            raise ApiError(400, "INVALID_ATTRIBUTE", "A connection's type cannot change.", ["type"])
        _type_fields(body, conn.doc["type"])
        for key in ("networking", "publicPrivateNetworking"):
            if key in body and body[key] != conn.doc.get(key):
                raise ApiError(
                    400,
                    "STREAM_NETWORKING_ACCESS_TYPE_CANNOT_BE_MODIFIED",
                    "A connection's networking cannot change; delete and recreate it.",
                    [key],
                )
        if "name" in body and body["name"] != name:
            raise ApiError(400, "INVALID_ATTRIBUTE", "A connection cannot be renamed.", ["name"])
        conn.doc.update(copy.deepcopy(body))
        return _public(conn.doc)

    def delete_connection(self, workspace: str, name: str) -> None:
        """DELETING now, gone ``delete_delay`` seconds later. A Kafka connection still
        PENDING (provisioning) is refused as Atlas does: 409 :data:`KAFKA_DEPLOYING`, until
        it is READY or FAILED."""
        self.connection(workspace, name)  # 404 when absent
        record = self.workspaces[workspace]
        conn = record.connections.get(name)
        if conn is None:  # a wire-only connection
            if name == SOLAR:
                raise ApiError(400, "INVALID_ATTRIBUTE", f"{SOLAR} is built in.", [name])
            conn = record.connections[name] = Record(
                {"name": name, "type": "Kafka", "state": "READY"}
            )
        if conn.deleting:
            return
        if conn.doc.get("type") == "Kafka" and conn.doc.get("state") == "PENDING":
            raise ApiError(
                409,
                KAFKA_DEPLOYING,
                f"Stream Kafka connection {name} is currently deploying. "
                "Please retry the request later.",
                [name],
            )
        conn.deleting = True
        conn.doc["state"] = "DELETING"
        self._schedule(conn, self.delete_delay)

    def fail_connection(self, workspace: str, name: str, message: str) -> None:
        """Make a connection made over HTTP FAILED: it no longer resolves on the wire. Its
        document says FAILED only (``StreamsConnection`` has no field for why); ``message``
        goes to the workspace's operational log."""
        conn = self._made(workspace, name)
        conn.due = None
        conn.deleting = False
        conn.doc["state"] = "FAILED"
        record = self.workspaces[workspace]
        if record.wire is not None:
            registry = self.wire if workspace == self.own else record.wire.connections
            registry.remove(name)
            record.wire.engine.journal.operational(
                None, f"connection {name} FAILED: {message}", connection=name, state="FAILED"
            )

    def _made(self, workspace: str, name: str) -> Record:
        self.connection(workspace, name)  # 404 when absent
        conn = self.workspaces[workspace].connections.get(name)
        if conn is None:
            raise ApiError(
                400, "INVALID_ATTRIBUTE", f"{name} is the emulator's own and cannot change.", [name]
            )
        return conn


def _name(body: dict[str, Any]) -> str:
    name = body.get("name")
    if name is None:
        raise ApiError(
            400, "MISSING_ATTRIBUTE", "The required attribute name was not specified.", ["name"]
        )
    if not NAME.fullmatch(name):
        raise ApiError(
            400,
            "INVALID_ATTRIBUTE",
            "Invalid attribute name specified: 1 to 64 ASCII letters, digits, '-' or '_'.",
            ["name"],
        )
    return str(name)


def _enum(value: Any, allowed: tuple[str, ...], attribute: str) -> str:
    if value is None:
        raise ApiError(
            400,
            "MISSING_ATTRIBUTE",
            f"The required attribute {attribute} was not specified.",
            [attribute],
        )
    if value not in allowed:
        raise ApiError(
            400,
            "INVALID_ENUM_VALUE",
            f"An invalid enumeration value {str(value)[:64]} was specified for {attribute} "
            f"(one of {', '.join(allowed)}).",
            [attribute],
        )
    return str(value)


def _stream_config(config: dict[str, str]) -> dict[str, str]:
    for key in ("tier", "maxTierSize"):
        if key in config:
            _enum(config[key], TIERS, f"streamConfig.{key}")
    tier, top = config.get("tier"), config.get("maxTierSize")
    if tier and top and TIERS.index(tier) > TIERS.index(top):
        raise ApiError(
            400, "INVALID_ATTRIBUTE", "streamConfig.tier exceeds maxTierSize.", ["streamConfig"]
        )
    return dict(config)


def _type_fields(body: dict[str, Any], kind: str) -> None:
    """Refuse fields of other connection types (the document's ``x-xgen-discriminator``)."""
    foreign = set(body) - {"name", "type", "region"} - bodies.TYPE_FIELDS[kind]
    if foreign:
        first = sorted(foreign)[0]
        raise ApiError(
            400,
            "INVALID_ATTRIBUTE",
            f"Invalid attribute {first} specified for a {kind} connection.",
            [first],
        )


def _public(doc: Any) -> Any:
    """``doc`` without its write-only secrets."""
    if isinstance(doc, dict):
        return {k: _public(v) for k, v in doc.items() if k not in SECRET_FIELDS}
    if isinstance(doc, list):
        return [_public(v) for v in doc]
    return copy.deepcopy(doc)
