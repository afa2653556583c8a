"""The triggerer's pooled clients under many concurrent waits: one connection lookup for
the leases that come together, and a bounded number of commands inside pymongo."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from pymongo import monitoring

from airflow_provider_asp.hooks.asp import AspHook
from asp_core import client_pool
from tests.support.airflow import connection_json
from tests.support.operators import arrange


class Lookups:
    """Counts the connection lookups of every hook (the real lookup still runs)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = AspHook.aget_connection.__func__  # type: ignore[attr-defined]

        async def counted(cls: type[AspHook], conn_id: str) -> Any:
            self.count += 1
            return await real(cls, conn_id)

        monkeypatch.setattr(AspHook, "aget_connection", classmethod(counted))


class InFlight(monitoring.CommandListener):
    """The most commands a client had in flight at once."""

    def __init__(self) -> None:
        self.now = self.most = 0
        self._lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        with self._lock:
            self.now -= 1

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        with self._lock:
            self.now -= 1


async def test_leases_that_come_together_look_the_connection_up_once(monkeypatch):
    lookups = Lookups(monkeypatch)
    leases = await asyncio.gather(*(AspHook().alease_shared_conn() for _ in range(200)))
    assert lookups.count == 1
    assert client_pool.shared_clients() == {leases[0].key: 200}
    await asyncio.gather(*(lease.release() for lease in leases))
    assert client_pool.shared_clients() == {}


async def test_settings_are_looked_up_again_after_their_time(monkeypatch):
    lookups = Lookups(monkeypatch)
    monkeypatch.setattr(client_pool, "SETTINGS_TTL", 0.0)
    for _ in range(3):
        lease = await AspHook().alease_shared_conn()
        await asyncio.sleep(0.01)
        await lease.release()
    assert lookups.count == 3


async def test_a_failed_lookup_is_not_kept(workspace, add_connection):
    with pytest.raises(Exception, match="asp_later"):
        await AspHook("asp_later").alease_shared_conn()
    add_connection("asp_later", connection_json(workspace))
    lease = await AspHook("asp_later").alease_shared_conn()
    assert lease.settings.source == "asp_later"
    await lease.release()


async def test_a_cancelled_lease_does_not_cancel_the_lookup_of_the_others(monkeypatch):
    lookups = Lookups(monkeypatch)
    first = asyncio.create_task(AspHook().alease_shared_conn())
    second = asyncio.create_task(AspHook().alease_shared_conn())
    await asyncio.sleep(0)  # both wait for the one lookup
    first.cancel()
    lease = await second
    assert first.cancelled()
    assert lookups.count == 1
    await lease.release()


async def test_a_pooled_client_bounds_the_commands_in_flight(workspace, client, monkeypatch):
    names = [f"inflight{i}" for i in range(30)]
    for name in names:
        arrange(client, name)
    monkeypatch.setattr(client_pool, "MAX_IN_FLIGHT", 4)
    listener = InFlight()
    workspace.inject_fault("getStreamProcessorStats", times=-1, delay=0.05)
    accepted = workspace.connections_accepted
    lease = await AspHook(event_listeners=[listener]).alease_shared_conn()
    try:
        stats = await asyncio.gather(*(lease.processors.get(name).stats() for name in names))
    finally:
        await lease.release()
        workspace.clear_faults()
    assert [reply["name"] for reply in stats] == names
    assert listener.most == 4
    # The pool's connections: at most one per command in flight, and the monitor's.
    assert workspace.connections_accepted - accepted <= 4 + 1
