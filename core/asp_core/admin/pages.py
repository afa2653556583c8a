"""Paged lists of the Admin API: ``itemsPerPage``, ``pageNum`` (from 1) and ``totalCount``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

#: Atlas's largest page.
MAX_ITEMS_PER_PAGE = 500


def check_items_per_page(items_per_page: int) -> int:
    """``items_per_page`` when Atlas serves pages that size; else ValueError."""
    if not 1 <= items_per_page <= MAX_ITEMS_PER_PAGE:
        raise ValueError(f"items_per_page must be 1..{MAX_ITEMS_PER_PAGE}, not {items_per_page}")
    return items_per_page


def page_params(page: int, items_per_page: int) -> dict[str, Any]:
    """The query of page ``page`` (from 1)."""
    return {"itemsPerPage": items_per_page, "pageNum": page, "includeCount": "true"}


def page_items(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The items of one page's document."""
    return list(doc.get("results") or ())


def is_last_page(doc: Mapping[str, Any], got: int, seen: int, items_per_page: int) -> bool:
    """Whether no page follows ``doc`` (``got`` items on it, ``seen`` so far): a short page,
    or ``totalCount`` reached."""
    total = doc.get("totalCount")
    return got < items_per_page or (isinstance(total, int) and seen >= total)


def pages(
    fetch: Callable[[Mapping[str, Any]], Mapping[str, Any]], items_per_page: int
) -> Iterator[dict[str, Any]]:
    """Every item of a paged list; ``fetch(params)`` returns one page's document
    (``results``, ``totalCount``). Stops at ``totalCount``, or at a short or empty page."""
    check_items_per_page(items_per_page)
    seen = 0
    page = 1
    while True:
        doc = fetch(page_params(page, items_per_page))
        results = page_items(doc)
        yield from results
        seen += len(results)
        if is_last_page(doc, len(results), seen, items_per_page):
            return
        page += 1
