"""Faults on demand: fail, delay or drop the connection on chosen commands."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Fault:
    """What to do to the next ``times`` commands named ``command`` (``"*"`` matches any).

    By default the fault strikes before the command runs (it never takes effect). With
    ``after_effect`` the command runs first and the fault strikes its reply: the effect is
    there, the reply is late, lost or an error (a lost reply after the effect).
    """

    command: str
    times: int = 1
    code: int | None = None
    message: str | None = None
    error_labels: Sequence[str] = ()
    close_connection: bool = False
    delay: float = 0.0
    after_effect: bool = False
    hits: int = field(default=0, init=False)

    @property
    def exhausted(self) -> bool:
        """Whether the fault has been applied ``times`` times."""
        return self.times >= 0 and self.hits >= self.times

    def matches(self, command: str) -> bool:
        """Whether this fault applies to ``command``."""
        return not self.exhausted and self.command in ("*", command)


class Faults:
    """A thread-safe list of armed faults; each command takes the first that matches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        """Arm ``fault``."""
        if fault.code is None and not fault.close_connection and fault.delay <= 0:
            raise ValueError("a fault needs a code, close_connection=True or a delay")
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._faults.clear()

    def take(self, command: str) -> Fault | None:
        """The fault to apply to this command, counted as applied."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(command):
                    fault.hits += 1
                    return fault
        return None
