"""Paged lists of the Admin API: ``itemsPerPage``, ``pageNum`` (from 1) and ``totalCount``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

#: Atlas's largest page.
MAX_ITEMS_PER_PAGE = 500


def pages(
    fetch: Callable[[Mapping[str, Any]], Mapping[str, Any]], items_per_page: int
) -> Iterator[dict[str, Any]]:
    """Every item of a paged list; ``fetch(params)`` returns one page's document
    (``results``, ``totalCount``). Stops at ``totalCount``, or at a short or empty page."""
    if not 1 <= items_per_page <= MAX_ITEMS_PER_PAGE:
        raise ValueError(f"items_per_page must be 1..{MAX_ITEMS_PER_PAGE}, not {items_per_page}")
    seen = 0
    page = 1
    while True:
        doc = fetch({"itemsPerPage": items_per_page, "pageNum": page, "includeCount": "true"})
        results = list(doc.get("results") or ())
        yield from results
        seen += len(results)
        total = doc.get("totalCount")
        if len(results) < items_per_page or (isinstance(total, int) and seen >= total):
            return
        page += 1
