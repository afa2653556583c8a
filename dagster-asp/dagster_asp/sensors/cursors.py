"""A sensor's cursor as versioned, compact JSON: what a tick leaves for the next one.

A cursor that is missing, unreadable, of another kind or of another version reads as ``{}``
(a fresh start: the sensors tell what they find, as on their first tick) rather than failing
every tick. Only plain JSON goes in: never settings, never secrets.
"""

import json
from collections.abc import Mapping
from typing import Any, Optional

#: Bumped when a sensor's cursor changes shape.
VERSION = 1


def load(cursor: Optional[str], kind: str) -> dict[str, Any]:  # noqa: UP045
    """The data a previous tick of a ``kind`` sensor saved (``{}``: none or unreadable)."""
    if not cursor:
        return {}
    try:
        value = json.loads(cursor)
    except ValueError:
        return {}
    if not isinstance(value, dict) or value.get("kind") != kind or value.get("v") != VERSION:
        return {}
    data = value.get("data")
    return data if isinstance(data, dict) else {}


def dump(kind: str, data: Mapping[str, Any]) -> str:
    """The cursor that carries ``data`` (plain JSON) to the next tick."""
    value = {"kind": kind, "v": VERSION, "data": dict(data)}
    return json.dumps(value, separators=(",", ":"), sort_keys=True, allow_nan=False)
