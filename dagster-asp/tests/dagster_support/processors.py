"""Processors for the asset tests: unique names on the shared emulator, and what they sent."""

import itertools
import uuid
from collections.abc import Mapping
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
