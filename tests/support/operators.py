"""Running operators in tests, and arranging processors for them."""

from __future__ import annotations

import time
from typing import Any

from tests.support.airflow import SOURCE, pipeline

#: Fast waits for operator tests: look every 50 ms, give up after 5 s.
FAST: dict[str, Any] = {"poll_interval": 0.05, "timeout": 5}


def run(operator):
    return operator.execute({})


def arrange(client, name, state="CREATED", stages=None):
    """A processor in ``state`` (CREATED, STARTED or STOPPED), reading the idle feed."""
    processors = client.stream_processors()
    processors.create(name, stages or pipeline(source=SOURCE))
    if state in ("STARTED", "STOPPED"):
        processors.get(name).start()
    if state == "STOPPED":
        processors.get(name).stop()


def wait_until(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def failing_on_start(workspace, client, name, *, retryable=False):
    """A STOPPED processor that fails on the first document it reads after a start."""
    feed = f"feed_{name}"
    workspace.add_connection(feed)
    arrange(client, name, "STARTED", stages=pipeline(source=feed))
    workspace.fail_processor(
        name, "sink unreachable", code=4242, retryable=retryable, after_documents=1
    )
    client.stream_processors().get(name).stop()
    workspace.feed(feed, [{"x": 1}])
