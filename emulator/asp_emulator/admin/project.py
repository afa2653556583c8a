"""The emulated Atlas project: its workspaces and their connection registries.

The emulator's own workspace shares its registry with the wire server
(:class:`~asp_emulator.engine.Connections`): a connection created here is what
``$source``/``$merge``/``$emit`` resolve once it is READY, and one deleted here stops
resolving once it is gone. Other workspaces are records only (not served on the wire yet).
Used in the event loop's thread only.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import bson

from asp_emulator.engine import Connections
from asp_emulator.engine.connections import SOLAR, TEST_LOG

#: Connection types Atlas lists (fields are passed through).
CONNECTION_TYPES = (
    "Cluster",
    "Kafka",
    "Sample",
    "Https",
    "AWSLambda",
    "S3",
    "AWSKinesisDataStreams",
    "AzureBlobStorage",
    "GCPPubSub",
    "SchemaRegistry",
)
#: Fields never returned (write-only secrets), at any depth.
SECRET_FIELDS = frozenset({"password", "clientSecret", "sslKey", "sslKeyPassword"})
WORKSPACE_PATCH_FIELDS = frozenset(
    {"cloudProvider", "region", "streamConfig", "failoverRegions", "processorStatus"}
)


class ApiError(Exception):
    """An Atlas error answer: HTTP ``status``, ``errorCode`` and ``detail``."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


@dataclass
class Record:
    """A workspace or connection: its document (secrets included) and pending transition."""

    doc: dict[str, Any]
    due: float | None = None  # time.monotonic() of the next transition
    deleting: bool = False
    connections: dict[str, Record] = field(default_factory=dict)


class Project:
    """One project (``project_id``) whose first workspace is the emulator's own."""

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
    ) -> None:
        self.project_id = project_id
        self.own = workspace_name
        self.wire = wire
        self._hostnames = hostnames
        self.ready_delay = ready_delay
        self.delete_delay = delete_delay
        #: (workspace, connection) -> the errorMessage it FAILS with instead of READY.
        self.failures: dict[tuple[str, str], str] = {}
        self.workspaces: dict[str, Record] = {
            workspace_name: Record(self._workspace_doc(workspace_name, "AWS", "VIRGINIA_USA"))
        }
        self.workspaces[workspace_name].doc["streamConfig"] = dict(stream_config)

    # -- transitions ------------------------------------------------------------------------
    def settle(self) -> None:
        """Apply every transition that is due: PENDING → READY, DELETING → gone."""
        now = time.monotonic()
        for ws_name, ws in list(self.workspaces.items()):
            for name, conn in list(ws.connections.items()):
                if conn.due is None or conn.due > now:
                    continue
                conn.due = None
                if conn.deleting:
                    del ws.connections[name]
                    if ws_name == self.own:
                        self.wire.remove(name)
                elif (ws_name, name) in self.failures:
                    message = self.failures.pop((ws_name, name))
                    conn.doc.update(state="FAILED", errorMessage=message)
                else:
                    conn.doc["state"] = "READY"
                    if ws_name == self.own:
                        self.wire.add(name, conn.doc["type"])
            if ws.deleting and ws.due is not None and ws.due <= now:
                del self.workspaces[ws_name]

    def finish_transitions(self) -> None:
        """Make every pending transition due now, and apply it."""
        for ws in self.workspaces.values():
            for conn in [ws, *ws.connections.values()]:
                if conn.due is not None:
                    conn.due = 0.0
        self.settle()

    def fail_connection(self, workspace: str, name: str, message: str) -> None:
        """Connection ``name`` (made over HTTP) goes FAILED with ``message``: now if it is
        there and not being deleted, else the next time it would become READY."""
        ws = self.workspaces.get(workspace)
        conn = ws.connections.get(name) if ws is not None else None
        if conn is None or conn.deleting:
            self.failures[(workspace, name)] = message
            return
        conn.due = None
        conn.doc.update(state="FAILED", errorMessage=message)
        if workspace == self.own:
            self.wire.remove(name)

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
        doc = copy.deepcopy(self._workspace(name).doc)
        if name == self.own:
            doc["hostnames"] = self._hostnames()
        if include_connections:
            doc["connections"] = self.connections(name)
        return doc

    def list_workspaces(self) -> list[dict[str, Any]]:
        return [self.workspace(name) for name in self.workspaces]

    def create_workspace(self, body: dict[str, Any], sample: bool) -> dict[str, Any]:
        name = _name(body)
        if name in self.workspaces:
            raise ApiError(409, "STREAM_TENANT_NAME_ALREADY_EXISTS", f"Workspace {name} exists.")
        region = body.get("dataProcessRegion")
        if not isinstance(region, dict) or not {"cloudProvider", "region"} <= region.keys():
            raise ApiError(
                400, "INVALID_ATTRIBUTE", "dataProcessRegion needs cloudProvider and region."
            )
        if region["cloudProvider"] not in ("AWS", "AZURE", "GCP"):
            raise ApiError(400, "INVALID_ATTRIBUTE", "cloudProvider must be AWS, AZURE or GCP.")
        record = Record(self._workspace_doc(name, region["cloudProvider"], region["region"]))
        if isinstance(body.get("streamConfig"), dict):
            record.doc["streamConfig"] = dict(body["streamConfig"])
        if sample and (body.get("sampleConnections") or {}).get("solar"):
            record.connections[SOLAR] = Record({"name": SOLAR, "type": "Sample", "state": "READY"})
        self.workspaces[name] = record
        return self.workspace(name)

    def update_workspace(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        record = self._workspace(name)
        unknown = set(body) - WORKSPACE_PATCH_FIELDS
        if unknown:
            raise ApiError(400, "INVALID_ATTRIBUTE", f"Cannot update {sorted(unknown)}.")
        region = record.doc["dataProcessRegion"]
        for key in ("cloudProvider", "region"):
            if key in body:
                region[key] = body[key]
        if isinstance(body.get("streamConfig"), dict):
            record.doc["streamConfig"].update(body["streamConfig"])
        return self.workspace(name)

    def delete_workspace(self, name: str) -> None:
        record = self._workspace(name)
        if name == self.own:
            raise ApiError(
                400,
                "CANNOT_DELETE_EMULATED_WORKSPACE",
                "The emulator's own workspace cannot be deleted.",
            )
        record.deleting = True
        self._schedule(record, self.delete_delay)

    def _workspace(self, name: str) -> Record:
        self.settle()
        record = self.workspaces.get(name)
        if record is None:
            raise ApiError(404, "STREAM_TENANT_NOT_FOUND_FOR_NAME", f"No workspace named {name}.")
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
            404, "STREAM_CONNECTION_NOT_FOUND", f"No connection named {name} in {workspace}."
        )

    def create_connection(self, workspace: str, body: dict[str, Any]) -> dict[str, Any]:
        name = _name(body)
        record = self._workspace(workspace)
        if name in {c["name"] for c in self.connections(workspace)} or name == TEST_LOG:
            raise ApiError(
                409, "STREAM_CONNECTION_NAME_ALREADY_EXISTS", f"Connection {name} exists."
            )
        if body.get("type") not in CONNECTION_TYPES:
            raise ApiError(
                400, "INVALID_ATTRIBUTE", f"type must be one of {', '.join(CONNECTION_TYPES)}."
            )
        conn = Record({**copy.deepcopy(body), "state": "PENDING"})
        record.connections[name] = conn
        self._schedule(conn, self.ready_delay)
        return _public(conn.doc)

    def update_connection(self, workspace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        conn = self._made(workspace, name)
        if "type" in body and body["type"] != conn.doc["type"]:
            raise ApiError(400, "INVALID_ATTRIBUTE", "A connection's type cannot change.")
        if "networking" in body and body["networking"] != conn.doc.get("networking"):
            raise ApiError(
                400,
                "INVALID_ATTRIBUTE",
                "A connection's networking cannot change; delete and recreate it.",
            )
        if "name" in body and body["name"] != name:
            raise ApiError(400, "INVALID_ATTRIBUTE", "A connection cannot be renamed.")
        conn.doc.update(copy.deepcopy(body))
        return _public(conn.doc)

    def delete_connection(self, workspace: str, name: str) -> None:
        self.connection(workspace, name)  # 404 when absent
        record = self.workspaces[workspace]
        conn = record.connections.get(name)
        if conn is None:  # a wire-only connection
            if name == SOLAR:
                raise ApiError(400, "INVALID_ATTRIBUTE", f"{SOLAR} is built in.")
            conn = record.connections[name] = Record(
                {"name": name, "type": "Kafka", "state": "READY"}
            )
        conn.deleting = True
        conn.doc["state"] = "DELETING"
        self._schedule(conn, self.delete_delay)

    def _made(self, workspace: str, name: str) -> Record:
        self.connection(workspace, name)  # 404 when absent
        conn = self.workspaces[workspace].connections.get(name)
        if conn is None:
            raise ApiError(
                400, "INVALID_ATTRIBUTE", f"{name} is the emulator's own and cannot change."
            )
        return conn


def _name(body: dict[str, Any]) -> str:
    name = body.get("name")
    if not isinstance(name, str) or not name or "/" in name or len(name) > 64:
        raise ApiError(
            400,
            "INVALID_ATTRIBUTE",
            "name must be a non-empty string of up to 64 characters without '/'.",
        )
    return name


def _public(doc: Any) -> Any:
    """``doc`` without its write-only secrets."""
    if isinstance(doc, dict):
        return {k: _public(v) for k, v in doc.items() if k not in SECRET_FIELDS}
    if isinstance(doc, list):
        return [_public(v) for v in doc]
    return copy.deepcopy(doc)
