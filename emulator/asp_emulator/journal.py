"""A workspace's log lines, as the Admin API's log downloads serve them.

Two logs, each bounded (the oldest lines go first): the *operational* log says what the
processors did (created, started, stopped, failed with the error, modified, dropped); the
*audit* log says who asked for what (each stream processing command on the wire with its
user, each Admin API action with its credential's ID, authentications), and whether it
succeeded. Never a secret: users and credentials by name or ID only.
Used in the event loop's thread only.
"""

from __future__ import annotations

import datetime
import gzip
import json
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

#: Lines kept per log.
MAX_LINES = 10_000

Kind = Literal["operational", "audit"]


@dataclass(frozen=True)
class Line:
    """One log line: when (epoch seconds), which processor (None: the workspace), what."""

    at: float
    processor: str | None
    message: str
    fields: tuple[tuple[str, Any], ...] = ()

    def to_json(self, workspace: str) -> str:
        stamp = datetime.datetime.fromtimestamp(self.at, datetime.timezone.utc)
        doc: dict[str, Any] = {
            "t": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "workspace": workspace,
        }
        if self.processor is not None:
            doc["processor"] = self.processor
        doc["msg"] = self.message
        doc.update(self.fields)
        return json.dumps(doc, default=str, sort_keys=False)


class Journal:
    """The operational and audit logs of one workspace."""

    def __init__(self, max_lines: int = MAX_LINES) -> None:
        self._logs: dict[Kind, deque[Line]] = {
            "operational": deque(maxlen=max_lines),
            "audit": deque(maxlen=max_lines),
        }

    def operational(self, processor: str | None, message: str, **fields: Any) -> None:
        """What a processor (or the workspace) did."""
        self._logs["operational"].append(
            Line(time.time(), processor, message, tuple(fields.items()))
        )

    def audit(
        self, actor: str, action: str, outcome: str, processor: str | None = None, **fields: Any
    ) -> None:
        """Who (``actor``: a user name or credential ID) asked for what, and the outcome."""
        more = {"actor": actor, "action": action, "outcome": outcome, **fields}
        self._logs["audit"].append(
            Line(time.time(), processor, f"{actor}: {action}: {outcome}", tuple(more.items()))
        )

    def lines(
        self,
        kind: Kind,
        *,
        start: float | None = None,
        end: float | None = None,
        processor: str | None = None,
    ) -> list[Line]:
        """The lines of ``kind`` from ``start`` to ``end`` (epoch seconds, inclusive), of
        one ``processor`` (None or empty: all)."""
        return [
            line
            for line in self._logs[kind]
            if (start is None or line.at >= start)
            and (end is None or line.at <= end)
            and (not processor or line.processor == processor)
        ]

    @staticmethod
    def gzip(lines: Iterable[Line], workspace: str) -> bytes:
        """The lines as gzip-compressed JSON lines (what the download endpoints send)."""
        text = "".join(line.to_json(workspace) + "\n" for line in lines)
        return gzip.compress(text.encode(), mtime=0)
