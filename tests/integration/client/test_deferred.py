"""The commands the seed API defers: list, list_connections, workspace_defaults, modify and
process, against the emulator, sync and async, in both reply shapes."""

from __future__ import annotations

import pytest
from pymongo.errors import OperationFailure

from asp_core.stream_processing import AsyncSampleCursor, StreamProcessorInfo
from tests.support.client import SOLAR_PIPELINE, call, documents_pipeline, drain

PIPELINE = documents_pipeline([{"a": 1}, {"a": 2}])


async def test_list_with_and_without_filter(client, recorder, workspace, name):
    sps = client.stream_processors()
    await call(sps.create(name, PIPELINE))
    await call(sps.create(name + "b", PIPELINE))
    await call(sps.get(name + "b").start())
    everything = await call(sps.list())
    assert all(isinstance(info, StreamProcessorInfo) for info in everything)
    states = {info.name: info.state for info in everything}
    assert states[name] == "CREATED"
    assert states[name + "b"] == "STARTED"
    assert {key: workspace.processors()[key] for key in states} == states
    only = await call(sps.list({"name": name + "b", "state": "STARTED"}))
    assert [(info.name, info.pipeline) for info in only] == [(name + "b", PIPELINE)]
    assert recorder.items()[-2:] == [
        [("listStreamProcessors", 1)],
        [("listStreamProcessors", 1), ("filter", {"name": name + "b", "state": "STARTED"})],
    ]
    await call(sps.get(name).drop())
    await call(sps.get(name + "b").drop())


async def test_list_connections_and_workspace_defaults(client, recorder):
    sps = client.stream_processors()
    connections = await call(sps.list_connections())
    assert {"name": "sample_stream_solar", "type": "inmemory"} in connections
    assert await call(sps.list_connections({"type": "inmemory"})) == [
        connection for connection in connections if connection["type"] == "inmemory"
    ]
    assert await call(sps.workspace_defaults()) == {
        "defaultTierSize": "SP10",
        "maxTierSize": "SP50",
    }
    assert recorder.items() == [
        [("listStreamConnections", 1)],
        [("listStreamConnections", 1), ("filter", {"type": "inmemory"})],
        [("listWorkspaceDefaults", 1)],
    ]


async def test_modify_pipeline_then_rename(client, recorder, workspace, name):
    sps = client.stream_processors()
    await call(sps.create(name, PIPELINE))
    proc = sps.get(name)
    new_pipeline = documents_pipeline([{"a": 3}])
    recorder.clear()
    assert await call(proc.modify(new_pipeline, resume_from_checkpoint=False, tier="SP5")) is None
    info = await call(sps.get_info(name))
    assert (info.pipeline, info.pipeline_version, info.tier) == (new_pipeline, 2, "SP5")
    await call(proc.modify(new_name=name + "r"))
    assert proc.name == name + "r"  # the handle follows the rename
    assert name not in workspace.processors()
    assert workspace.processors()[name + "r"] == "CREATED"
    assert [command for command in recorder.items() if command[0][0] != "getStreamProcessor"] == [
        [
            ("modifyStreamProcessor", name),
            ("pipeline", new_pipeline),
            ("resumeFromCheckpoint", False),
            ("tier", "SP5"),
        ],
        [("modifyStreamProcessor", name), ("name", name + "r")],
    ]
    await call(proc.start())
    with pytest.raises(OperationFailure):  # a running processor cannot be modified
        await call(proc.modify(dlq={}))
    assert recorder.items()[-1] == [("modifyStreamProcessor", name + "r"), ("dlq", {})]
    await call(proc.drop())


async def test_process_reads_an_ephemeral_processor_and_drops_it(client, recorder, workspace):
    sps = client.stream_processors()
    pipeline = documents_pipeline([{"a": i} for i in range(4)])
    cursor = sps.process(pipeline, limit=3, batch_size=2)
    assert recorder.commands == []
    assert await drain(cursor) == [{"a": 0}, {"a": 1}, {"a": 2}]
    generated = cursor.name
    assert generated is not None
    assert generated not in workspace.processors()
    cursor_id = recorder.commands[1]["cursorId"]
    assert recorder.items() == [
        [("processStreamProcessor", pipeline), ("options", {"limit": 3})],
        [("getMoreSampleStreamProcessor", generated), ("cursorId", cursor_id), ("batchSize", 2)],
        [("getMoreSampleStreamProcessor", generated), ("cursorId", cursor_id), ("batchSize", 2)],
        [("dropStreamProcessor", generated)],  # exhausted: dropped (an error would be ignored)
    ]
    await call(cursor.close())
    assert len(recorder.commands) == 4  # dropped once only


async def test_closing_a_process_cursor_drops_it(client, recorder):
    sps = client.stream_processors()
    dlq = {"connectionName": "__testLog", "db": "dlq", "coll": "process"}
    cursor = sps.process(SOLAR_PIPELINE, dlq=dlq)
    assert len(await call(cursor.to_list(2, timeout=10))) == 2
    assert cursor.alive
    await call(cursor.close())
    assert not cursor.alive
    assert recorder.items()[0] == [
        ("processStreamProcessor", SOLAR_PIPELINE),
        ("options", {"dlq": dlq}),
    ]
    assert recorder.items()[-1] == [("dropStreamProcessor", cursor.name)]
    await call(cursor.close())
    assert recorder.names().count("dropStreamProcessor") == 1


async def test_process_cursor_as_context_manager(client, recorder):
    cursor = client.stream_processors().process(SOLAR_PIPELINE)
    if isinstance(cursor, AsyncSampleCursor):
        async with cursor:
            await cursor.try_next()
    else:
        with cursor:
            cursor.try_next()
    assert not cursor.alive
    assert recorder.names()[0] == "processStreamProcessor"
    assert recorder.items()[-1] == [("dropStreamProcessor", cursor.name)]
