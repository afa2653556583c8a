"""Faults on demand for the emulated Admin API: an error status, a 429 with or without
``Retry-After``, an error after the effect (a lost answer), or silence."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field


@dataclass
class AdminFault:
    """What the next ``times`` requests matching ``method`` and ``path`` (fnmatch patterns
    on the URL path, ``"*"`` for any) get (-1: every one).

    ``status`` answers instead of the handler; with ``after_effect`` the handler runs first
    (the effect is there, the answer is lost). ``retry_after`` adds that header. ``silent``
    never answers (until the workspace stops).
    """

    method: str = "*"
    path: str = "*"
    status: int = 500
    times: int = 1
    retry_after: int | None = None
    after_effect: bool = False
    silent: bool = False
    hits: int = field(default=0, init=False)

    def matches(self, method: str, path: str) -> bool:
        if self.times >= 0 and self.hits >= self.times:
            return False
        return fnmatch.fnmatchcase(method, self.method) and fnmatch.fnmatchcase(path, self.path)


class AdminFaults:
    """The armed faults; the first match strikes (used in the loop's thread)."""

    def __init__(self) -> None:
        self._faults: list[AdminFault] = []

    def add(self, fault: AdminFault) -> AdminFault:
        self._faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> AdminFault | None:
        for fault in self._faults:
            if fault.matches(method, path):
                fault.hits += 1
                return fault
        return None

    def clear(self) -> None:
        self._faults.clear()
