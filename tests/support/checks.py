"""Check functions the sensors' tests name by dotted path (the triggerer imports them)."""

from __future__ import annotations

from typing import Any


def is_hit(document: dict[str, Any]) -> bool:
    return bool(document.get("hit"))


def has_output(stats: dict[str, Any]) -> bool:
    return int(stats.get("outputMessageCount", 0)) >= 1
