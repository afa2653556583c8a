"""Faults on demand for the emulated Admin API: an error status, a 429 with or without
``Retry-After``, an error after the effect (a lost answer), an error whose effect comes
later (a request still under way when the client looked), or silence."""

from __future__ import annotations

import fnmatch
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class AdminFault:
    """What the next ``times`` requests matching ``method`` and ``path`` (fnmatch patterns
    on the URL path, ``"*"`` for any) get (-1: every one).

    ``status`` answers instead of the handler; with ``after_effect`` the handler runs first
    (the effect is there, the answer is lost); with ``late_effect`` it runs just before the
    next request with the same method and path is handled (the effect lands after whatever
    the client did in between, a look that saw nothing). ``retry_after`` adds that header.
    ``silent`` never answers (until the workspace stops).
    """

    method: str = "*"
    path: str = "*"
    status: int = 500
    times: int = 1
    retry_after: int | None = None
    after_effect: bool = False
    silent: bool = False
    late_effect: bool = False
    hits: int = field(default=0, init=False)

    def matches(self, method: str, path: str) -> bool:
        if self.times >= 0 and self.hits >= self.times:
            return False
        return fnmatch.fnmatchcase(method, self.method) and fnmatch.fnmatchcase(path, self.path)


class AdminFaults:
    """The armed faults; the first match strikes (used in the loop's thread)."""

    def __init__(self) -> None:
        self._faults: list[AdminFault] = []
        self._late: list[tuple[str, str, Callable[[], Awaitable[Any]]]] = []

    def add(self, fault: AdminFault) -> AdminFault:
        self._faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> AdminFault | None:
        for fault in self._faults:
            if fault.matches(method, path):
                fault.hits += 1
                return fault
        return None

    def defer(self, method: str, path: str, effect: Callable[[], Awaitable[Any]]) -> None:
        """Run ``effect`` before the next request ``method path`` is handled."""
        self._late.append((method, path, effect))

    def due(self, method: str, path: str) -> list[Callable[[], Awaitable[Any]]]:
        """The deferred effects a request ``method path`` sets off (taken)."""
        due = [e for m, p, e in self._late if (m, p) == (method, path)]
        self._late = [(m, p, e) for m, p, e in self._late if (m, p) != (method, path)]
        return due

    def clear(self) -> None:
        self._faults.clear()
        self._late.clear()
