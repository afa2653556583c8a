"""Paged lists of the Admin API: ``itemsPerPage``, ``pageNum`` (from 1) and ``totalCount``.

Pages are offsets into a list that may change while it is read: an item deleted from an
earlier page shifts the later ones back (one would be missed), one created before the
offset shifts them on (one would come twice). :class:`Pager` keeps each item once (by
``name``), and reads the list again from page 1 when ``totalCount`` changed between two
pages or a full page brought nothing new (a server that repeats its pages), at most
:data:`PASSES` times: never an endless loop, never a silent loss it could see.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asp_core.admin.errors import AdminApiError

#: Atlas's largest page.
MAX_ITEMS_PER_PAGE = 500
#: Readings of a list from page 1 before a list that keeps changing is an error.
PASSES = 3


def check_items_per_page(items_per_page: int) -> int:
    """``items_per_page`` when Atlas serves pages that size; else ValueError."""
    if not 1 <= items_per_page <= MAX_ITEMS_PER_PAGE:
        raise ValueError(f"items_per_page must be 1..{MAX_ITEMS_PER_PAGE}, not {items_per_page}")
    return items_per_page


class Pager:
    """One list read to its end: ``while (params := pager.next()) is not None:
    pager.add(fetch(params))``, then :attr:`items`. Pure: the caller sends the requests."""

    def __init__(self, items_per_page: int, *, passes: int = PASSES) -> None:
        self.items_per_page = check_items_per_page(items_per_page)
        self.passes = passes
        self.items: list[dict[str, Any]] = []
        self.pass_number = 1
        self._names: set[str] = set()
        self._page = 1
        self._total: int | None = None
        self._changed = False
        self._done = False

    def next(self) -> dict[str, Any] | None:
        """The query of the page to read next; None once the list is read."""
        if self._done:
            return None
        return {"itemsPerPage": self.items_per_page, "pageNum": self._page, "includeCount": "true"}

    def add(self, doc: Mapping[str, Any]) -> None:
        """Take the page :meth:`next` asked for. :class:`AdminApiError` when the list
        changed during each of :data:`PASSES` readings."""
        results = list(doc.get("results") or ())
        count = doc.get("totalCount")
        total = count if isinstance(count, int) and not isinstance(count, bool) else None
        if self._page == 1:
            self._total = total
        elif total != self._total:
            self._changed = True
        fresh = [item for item in results if self._fresh(item)]
        self.items.extend(fresh)
        more = len(results) >= self.items_per_page
        if more and not fresh:  # a full page of items seen already: pages repeat or shifted
            self._changed, more = True, False
        elif more and total is not None and len(self.items) >= total:
            more = False
        if more:
            self._page += 1
        elif not self._changed:
            self._done = True
        elif self.pass_number >= self.passes:
            raise AdminApiError(
                f"the list changed while it was read, {self.passes} times over "
                "(totalCount moved or pages repeated): try again"
            )
        else:
            self._restart()

    def _fresh(self, item: Any) -> bool:
        name = item.get("name") if isinstance(item, Mapping) else None
        if not isinstance(name, str):
            return True
        if name in self._names:
            return False
        self._names.add(name)
        return True

    def _restart(self) -> None:
        self.pass_number += 1
        self.items, self._names = [], set()
        self._page, self._total, self._changed = 1, None, False
