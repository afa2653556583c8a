"""The reads of many triggers on one pooled client share rounds (``hooks.batched_reads``):
what each read gets is what a lone ``getStreamProcessor`` would give, with a fraction of the
commands, and faults, bounds and cancellations stay each read's own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pymongo
import pytest
from pymongo import monitoring
from pymongo.errors import NetworkTimeout

from airflow_provider_asp.hooks.asp import AspHook
from airflow_provider_asp.triggers.asp import AspProcessorStateTrigger
from asp_core import batched_reads
from asp_core.client_pool import ClientLease, PooledClient
from asp_core.waiting import asynchronous, conditions, states
from asp_core.waiting.verdict import Outcome, is_transient
from tests.support.operators import arrange

READS = ("getStreamProcessor", "listStreamProcessors")


class Sent(monitoring.CommandListener):
    """The read commands the client sent, with the names a list asked for."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in READS:
            command = event.command
            asked = command.get("filter", {}).get("name", {}).get("$in")
            self.commands.append((event.command_name, asked or command[event.command_name]))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def names(self) -> list[str]:
        return [name for name, _ in self.commands]


@pytest.fixture
def sent() -> Sent:
    return Sent()


@pytest.fixture
async def lease(sent: Sent) -> AsyncIterator[ClientLease]:
    lease = await AspHook(event_listeners=[sent]).alease_shared_conn()
    assert isinstance(lease.client, PooledClient)
    try:
        yield lease
    finally:
        await lease.release()


def processors(client: Any, prefix: str, count: int, state: str = "STARTED") -> list[str]:
    names = [f"{prefix}{i}" for i in range(count)]
    for name in names:
        arrange(client, name, state)
    return names


async def test_reads_that_come_together_share_one_list(lease, sent, client, monkeypatch):
    names = processors(client, "batch_together", 30)
    monkeypatch.setattr(batched_reads, "NAMES_PER_COMMAND", 12)
    infos = await asyncio.gather(*(lease.processors.get_info(name) for name in names))
    assert [(info.name, info.state) for info in infos] == [(name, "STARTED") for name in names]
    assert sent.names() == ["listStreamProcessors"] * 3  # 12 + 12 + 6 names
    assert sorted(name for _, asked in sent.commands for name in asked) == sorted(names)
    # Each is what a lone read gives (the fields a wait judges).
    alone = await lease.client.mongo_client.admin.command({"getStreamProcessor": names[0]})
    assert infos[0].id == str(alone.get("result", alone)["id"])
    assert infos[0].last_state_change == alone.get("result", alone)["lastStateChange"]


async def test_a_lone_read_is_a_lone_get(lease, sent, client):
    (name,) = processors(client, "batch_lone", 1)
    info = await lease.processors.get_info(name)
    assert (info.name, info.state, sent.names()) == (name, "STARTED", ["getStreamProcessor"])


async def test_two_waits_on_one_processor_ask_for_it_once(lease, sent, client):
    names = processors(client, "batch_same", 2)
    infos = await asyncio.gather(*(lease.processors.get_info(n) for n in [*names, names[0]]))
    assert [info.name for info in infos] == [*names, names[0]]
    assert sent.commands == [("listStreamProcessors", names)]


async def test_a_failed_processor_is_read_alone_for_the_error(lease, sent, client, workspace):
    names = processors(client, "batch_failed", 5)
    workspace.fail_processor(names[2], "sink unreachable", code=4242, retryable=True)
    infos = await asyncio.gather(*(lease.processors.get_info(name) for name in names))
    failed = infos[2]
    assert (failed.state, failed.error_msg, failed.error_code, failed.error_retryable) == (
        "FAILED",
        "sink unreachable",
        4242,
        True,
    )
    assert sent.names() == ["listStreamProcessors", "getStreamProcessor"]
    verdict = conditions.StateCondition(
        names[2], frozenset({"STOPPED"}), states.FAILURE_STATES, False
    ).judge(failed)
    assert verdict.done
    assert "sink unreachable" in verdict.message


async def test_a_missing_processor_gets_the_servers_not_found(lease, sent, client):
    names = processors(client, "batch_missing", 3)
    results = await asyncio.gather(
        *(asynchronous.find(lease.processors, name) for name in [*names, "batch_missing_none"])
    )
    assert [None if info is None else info.name for info in results] == [*names, None]
    with pytest.raises(pymongo.errors.OperationFailure) as raised:
        await asyncio.gather(
            lease.processors.get_info(names[0]), lease.processors.get_info("batch_missing_none")
        )
    assert states.is_not_found(raised.value)


async def test_a_failed_round_is_a_transient_look_for_each_and_the_next_round_reads(
    lease, sent, client, workspace
):
    names = processors(client, "batch_fault", 4)
    workspace.inject_fault("listStreamProcessors", close_connection=True)
    condition = [
        conditions.StateCondition(name, frozenset({"STARTED"}), states.FAILURE_STATES, False)
        for name in names
    ]
    first = await asyncio.gather(*(asynchronous.look(c, lease.processors) for c in condition))
    assert [v.done for v in first] == [False] * 4  # pending, not failed: it costs a look
    second = await asyncio.gather(*(asynchronous.look(c, lease.processors) for c in condition))
    assert [v.outcome for v in second] == [Outcome.SUCCESS] * 4


async def test_a_list_the_server_refuses_falls_back_to_lone_reads(lease, sent, client, workspace):
    names = processors(client, "batch_refused", 3)
    workspace.inject_fault("listStreamProcessors", code=10334, message="BSONObjectTooLarge")
    infos = await asyncio.gather(*(lease.processors.get_info(name) for name in names))
    assert [(info.name, info.state) for info in infos] == [(name, "STARTED") for name in names]
    assert sent.names() == ["listStreamProcessors"] + ["getStreamProcessor"] * 3


async def test_each_read_keeps_its_own_bound(lease, sent, client, workspace):
    names = processors(client, "batch_bound", 3)
    workspace.inject_fault("listStreamProcessors", delay=3.0)

    async def bounded(name: str, seconds: float) -> Any:
        with pymongo.timeout(seconds):
            return await lease.processors.get_info(name)

    results: tuple[Any, ...] = await asyncio.gather(
        bounded(names[0], 0.2),
        bounded(names[1], 60),
        bounded(names[2], 60),
        return_exceptions=True,
    )
    short, long_, other = results
    assert isinstance(short, NetworkTimeout)
    assert is_transient(short)
    assert (long_.name, other.name) == (names[1], names[2])  # the round went on for them


async def test_a_read_waiting_for_the_next_round_keeps_its_bound(lease, sent, client, workspace):
    names = processors(client, "batch_next_bound", 2)
    workspace.inject_fault("getStreamProcessor", delay=3.0)  # below the 5 s socket timeout
    out = asyncio.create_task(lease.processors.get_info(names[0]))  # a round out for 3 s
    deadline = time.monotonic() + 30
    while not sent.commands:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    with pymongo.timeout(0.2), pytest.raises(NetworkTimeout):
        await lease.processors.get_info(names[1])  # it waits for the next round: bounded
    assert not out.done()  # failed by its bound, not by the end of the round before it
    assert (await out).name == names[0]


async def test_a_cancelled_read_leaves_the_others_their_answer(lease, sent, client, workspace):
    names = processors(client, "batch_cancel", 3)
    workspace.inject_fault("listStreamProcessors", delay=0.5)
    reads = [asyncio.create_task(lease.processors.get_info(name)) for name in names]
    await asyncio.sleep(0.1)  # the round is out (the cancellation is the test, not its time)
    reads[0].cancel()
    done = await asyncio.gather(*reads, return_exceptions=True)
    assert isinstance(done[0], asyncio.CancelledError)
    assert [getattr(info, "name", info) for info in done[1:]] == names[1:]


async def test_reads_that_come_during_a_round_join_the_next(lease, sent, client, workspace):
    names = processors(client, "batch_next", 20)
    workspace.inject_fault("listStreamProcessors", delay=0.5)
    first = [asyncio.create_task(lease.processors.get_info(name)) for name in names[:10]]
    deadline = time.monotonic() + 30
    while not sent.commands:  # the first round's command is out
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    second = [asyncio.create_task(lease.processors.get_info(name)) for name in names[10:]]
    infos = await asyncio.gather(*first, *second)
    assert [info.name for info in infos] == names
    assert sent.commands == [
        ("listStreamProcessors", names[:10]),
        ("listStreamProcessors", names[10:]),
    ]


async def test_many_state_triggers_share_their_looks(client, workspace):
    names = processors(client, "batch_triggers", 100, state="CREATED")
    before = sum(workspace.command_counts().get(name, 0) for name in READS)
    triggers = [
        AspProcessorStateTrigger(
            processor_name=name,
            end_time=time.time() + 120,
            poll_interval=0.2,
            target_states=["STARTED"],
        )
        for name in names
    ]
    runs = [asyncio.ensure_future(anext(trigger.run())) for trigger in triggers]
    deadline = time.monotonic() + 60
    while triggers[0]._lease is None or not triggers[0]._lease.client.reads.rounds:
        assert time.monotonic() < deadline, "no first round"
        await asyncio.sleep(0.01)
    reads = triggers[0]._lease.client.reads
    starts = client.stream_processors()
    await asyncio.to_thread(lambda: [starts.get(name).start() for name in names])
    events = await asyncio.wait_for(asyncio.gather(*runs), 120)
    assert {event.payload["status"] for event in events} == {"success"}
    commands = sum(workspace.command_counts().get(name, 0) for name in READS) - before
    assert commands == reads.rounds  # one command a round (fewer than 500 names each)
    assert reads.requests > len(names)  # some looked more than once...
    assert reads.rounds * 2 <= reads.requests  # ...and a round served many looks
