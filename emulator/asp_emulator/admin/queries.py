"""Query parameters of the Admin API, checked as Atlas does (each refusal a 400
``INVALID_QUERY_PARAMETER`` naming the parameter), and the paged lists they ask for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asp_emulator.admin.errors import ApiError

#: Atlas's largest page, and its default.
MAX_ITEMS_PER_PAGE = 500
ITEMS_PER_PAGE = 100


def flag(query: Mapping[str, str], name: str, default: bool) -> bool:
    """A boolean query parameter (``true``/``false``)."""
    value = query.get(name)
    if value is None:
        return default
    if value.lower() not in ("true", "false"):
        raise ApiError(
            400, "INVALID_QUERY_PARAMETER", f"Invalid query parameter {name} specified.", [name]
        )
    return value.lower() == "true"


def number(query: Mapping[str, str], name: str, default: int, top: int) -> int:
    """An integer query parameter from 1 to ``top``."""
    value = query.get(name)
    if value is None:
        return default
    try:
        found = int(value) if value.isascii() and len(value) <= 12 else 0
    except ValueError:
        found = 0
    if not 1 <= found <= top:
        raise ApiError(
            400,
            "INVALID_QUERY_PARAMETER",
            f"Invalid query parameter {name} specified: an integer from 1 to {top}.",
            [name],
        )
    return found


def page(query: Mapping[str, str], items: list[dict[str, Any]]) -> dict[str, Any]:
    """One page of ``items`` (``itemsPerPage`` 1..500, default 100; ``pageNum`` from 1;
    ``totalCount`` unless ``includeCount=false``)."""
    per_page = number(query, "itemsPerPage", ITEMS_PER_PAGE, MAX_ITEMS_PER_PAGE)
    page_num = number(query, "pageNum", 1, 2**31 - 1)
    start = (page_num - 1) * per_page
    doc: dict[str, Any] = {"links": [], "results": items[start : start + per_page]}
    if flag(query, "includeCount", True):
        doc["totalCount"] = len(items)
    return doc
