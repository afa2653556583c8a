"""The shared lifecycle rules against the emulator: the bounded wait, and a wait that ends at
once when the processor fails. (The pure rules are tested in tests/unit.)"""

from __future__ import annotations

import threading
import time

import pytest

from airflow_provider_asp import lifecycle
from airflow_provider_asp.exceptions import AspProcessorFailedFatalError, AspWaitTimeoutError
from tests.support.operators import arrange


def test_wait_is_bounded(client, name):
    arrange(client, name, "STOPPED")
    reads = []

    def read():
        reads.append(time.monotonic())
        return client.stream_processors().get_info(name)

    started = time.monotonic()
    with pytest.raises(AspWaitTimeoutError, match=r"is STOPPED, not STARTED, after waiting 0\.4 s"):
        lifecycle.wait_for_state(read, lifecycle.STARTED, timeout=0.4, poll_interval=0.1)
    assert 0.4 <= time.monotonic() - started < 1.5
    assert 4 <= len(reads) <= 7


def test_wait_fails_at_once_when_the_processor_fails(workspace, client, name):
    arrange(client, name, "STARTED")
    threading.Timer(0.3, workspace.fail_processor, (name, "disk full", 61)).start()
    started = time.monotonic()
    with pytest.raises(AspProcessorFailedFatalError, match="disk full"):
        lifecycle.wait_for_state(
            lambda: client.stream_processors().get_info(name),
            lifecycle.STOPPED,
            timeout=30,
            poll_interval=0.05,
        )
    assert time.monotonic() - started < 2
