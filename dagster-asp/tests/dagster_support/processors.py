"""Processors for the tests: unique names on the shared emulator, what they sent, processors
made with plain commands (the sensors' tests), and waiting for conditions."""

import itertools
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from asp_emulator import Workspace
from dagster_asp.processor import AspProcessor

INPUT, CLUSTER = "dg_in", "dg_cluster"
_counter = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:6]}_{next(_counter)}"


def orders_processor(workspace: Workspace, name: str, **kwargs: Any) -> AspProcessor:
    """Reads ``dg_in``, sends documents without ``ok: true`` to its DLQ, merges the rest."""
    workspace.add_connection(INPUT)
    workspace.add_connection(CLUSTER)
    return AspProcessor(
        name,
        [
            {"$source": {"connectionName": INPUT, "topic": name}},
            {"$validate": {"validator": {"ok": True}, "validationAction": "dlq"}},
            {"$merge": {"into": {"connectionName": CLUSTER, "db": "shop", "coll": name}}},
        ],
        options={"dlq": {"connectionName": CLUSTER, "db": "shop", "coll": f"{name}_dlq"}},
        **kwargs,
    )


def asp_commands(counts: Mapping[str, int]) -> dict[str, int]:
    """The ASP commands among a server's command counts."""
    return {name: n for name, n in counts.items() if "StreamProcessor" in name}


def sent_since(workspace: Workspace, before: Mapping[str, int]) -> dict[str, int]:
    """ASP commands the workspace received since ``before`` (its earlier counts)."""
    now = asp_commands(workspace.command_counts())
    return {name: n - before.get(name, 0) for name, n in now.items() if n != before.get(name, 0)}


SOLAR = {"$source": {"connectionName": "sample_stream_solar"}}


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """Poll ``condition`` until truthy (short pauses, a generous bound); its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.05)


def admin(workspace: Workspace) -> Any:
    from pymongo import MongoClient

    return MongoClient(workspace.uri).admin


def create(
    db: Any, name: str, pipeline: list[dict[str, Any]], start: bool = True, **options: Any
) -> None:
    db.command({"createStreamProcessor": name, "pipeline": pipeline, **options})
    if start:
        db.command({"startStreamProcessor": name})


def running_solar(workspace: Workspace, db: Any, prefix: str = "sp") -> str:
    name = unique(prefix)
    create(db, name, [SOLAR, {"$emit": {"connectionName": "__testLog"}}])
    return name
