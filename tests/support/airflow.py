"""What the Airflow tests share: the workspace's secrets, connection JSON, pipelines, the DAG
file header, and a process-wide counter of looks that runs an action mid-wait."""

from __future__ import annotations

import collections
import json
import threading
from collections.abc import Callable
from typing import Any

from pymongo import monitoring

from asp_emulator import Workspace

#: Long and distinctive, so a leak is found by a plain substring search.
PASSWORD = "Wk5p-s3cret-PASSWORD-7781"
VIEWER_PASSWORD = "viewer-pw-0f9e8d"
SOURCE = "feed"

DAG_HEADER = """\
import datetime
import pendulum
from airflow.sdk import DAG
from airflow_provider_asp.operators.asp import *  # noqa: F403

START = pendulum.datetime(2024, 1, 1, tz="UTC")
"""


def connection_json(ws: Workspace, **changes: Any) -> str:
    """``ws.airflow_connection()`` as JSON, with fields (or ``extra`` keys) changed; an
    extra set to None is left out."""
    conn = ws.airflow_connection()
    extra = {**conn.pop("extra"), **changes.pop("extra", {})}
    kept = {key: value for key, value in extra.items() if value is not None}
    return json.dumps({**conn, **changes, "extra": kept})


def pipeline(*docs: dict[str, Any], source: str | None = None) -> list[dict[str, Any]]:
    """Inline documents (or a fed connection) to ``__testLog``."""
    src = {"connectionName": source} if source else {"documents": list(docs)}
    return [{"$source": src}, {"$emit": {"connectionName": "__testLog"}}]


#: Commands by which a sensor or trigger looks at a processor.
LOOK_COMMANDS = frozenset({"getStreamProcessor", "getStreamProcessorStats"})


class Looks(monitoring.CommandListener):
    """Counts, per processor, the looks (reads) any client of this process sends, and runs
    an action in a thread of its own once a processor has been looked at ``n`` times:
    "mid-wait" means after the waiting code has seen the processor pending."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: collections.Counter[str] = collections.Counter()
        self._actions: dict[tuple[str, int], Callable[[], Any]] = {}
        self.threads: list[threading.Thread] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in LOOK_COMMANDS:
            return
        name = str(event.command.get(event.command_name))
        with self._lock:
            self.counts[name] += 1
            action = self._actions.pop((name, self.counts[name]), None)
            if action is None:
                return
            thread = threading.Thread(target=action, daemon=True)
            self.threads.append(thread)
        thread.start()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def at(self, name: str, n: int, action: Callable[[], Any]) -> None:
        """Run ``action`` when ``name`` is looked at for the ``n``-th time from now."""
        with self._lock:
            self._actions[(name, self.counts[name] + n)] = action

    def join(self) -> None:
        for thread in self.threads:
            thread.join(10)


_LOOKS = Looks()
monitoring.register(_LOOKS)
