"""The output sensor against the emulator: matching documents in batches (count, wait,
bytes), carried in run config, never twice across ticks or a new sample cursor."""

import json
import time

import dagster as dg
import pytest
from dagster._serdes import serialize_value

from dagster_asp import build_asp_output_sensor
from dagster_asp.sensors import cursors
from dagster_support.processors import admin, create, unique, wait_for


@dg.op(config_schema=dg.Permissive())
def handle(context) -> None:
    context.log.info("%d documents", len(context.op_config["documents"]))


@dg.job
def on_output() -> None:
    handle()


@pytest.fixture
def fed(asp_workspace):
    """A running processor that emits what is fed to its source."""
    db = admin(asp_workspace)
    name, source = unique("out"), unique("feed")
    asp_workspace.add_connection(source)
    create(
        db,
        name,
        [
            {"$source": {"connectionName": source}},
            {"$emit": {"connectionName": "__testLog", "topic": name}},
        ],
    )
    yield name, source
    db.client.close()


def tick(sensor, asp, cursor=None):
    context = dg.build_sensor_context(cursor=cursor, resources={"asp": asp})
    with context:
        return sensor.evaluate_tick(context)


def documents(result):
    return [
        [d["t"] for d in r.run_config["ops"]["handle"]["config"]["documents"]]
        for r in result.run_requests
    ]


def test_batches_by_count_carried_over_and_never_twice(asp, asp_workspace, fed):
    name, source = fed
    sensor = build_asp_output_sensor(
        target=on_output,
        processor_names=[name],
        op_name="handle",
        match={"t": {"$gte": 10}},
        max_batch=10,
        max_wait=3600,
    )
    asp_workspace.feed(source, [{"t": t} for t in range(25)])
    wait_for(lambda: len(asp_workspace.emitted("__testLog", topic=name)) == 25)
    first = tick(sensor, asp)
    assert documents(first) == [list(range(10, 20))]
    config = first.run_requests[0].run_config["ops"]["handle"]["config"]
    assert config["kind"] == "output"
    assert config["count"] == 10
    assert config["processor_name"] == name
    serialize_value(first.run_requests)
    json.dumps(first.run_requests[0].run_config)
    assert len(cursors.load(first.cursor, "asp_output")["p"][name]["batch"]["documents"]) == 5

    asp_workspace.feed(source, [{"t": t} for t in range(30, 35)])
    wait_for(lambda: len(asp_workspace.emitted("__testLog", topic=name)) == 30)
    second = tick(sensor, asp, first.cursor)
    assert documents(second) == [[20, 21, 22, 23, 24, 30, 31, 32, 33, 34]]
    assert second.run_requests[0].run_key != first.run_requests[0].run_key
    assert tick(sensor, asp, second.cursor).run_requests == []

    # a lost sample cursor: the new one replays recent output, which was seen
    data = cursors.load(second.cursor, "asp_output")
    data["p"][name]["cursor"] = None
    replayed = tick(sensor, asp, cursors.dump("asp_output", data))
    assert replayed.run_requests == []


def test_a_batch_goes_after_max_wait_and_before_max_bytes(asp, asp_workspace, fed):
    name, source = fed
    sensor = build_asp_output_sensor(
        target=on_output,
        processor_names=[name],
        op_name="handle",
        max_batch=1000,
        max_wait=0.2,
        max_payload_bytes=1024,
    )
    asp_workspace.feed(source, [{"t": t, "pad": "x" * 200} for t in range(6)])
    wait_for(lambda: len(asp_workspace.emitted("__testLog", topic=name)) == 6)
    first = tick(sensor, asp)
    sizes = [len(batch) for batch in documents(first)]
    assert sizes
    assert sum(sizes) < 6
    assert all(len(json.dumps(r.run_config)) < 1024 + 200 for r in first.run_requests)
    opened = cursors.load(first.cursor, "asp_output")["p"][name]["batch"]["opened"]
    wait_for(lambda: time.time() - opened > 0.2)
    second = tick(sensor, asp, first.cursor)
    assert sum(len(b) for b in documents(second)) + sum(sizes) == 6
