"""The stats sensor against the emulator: observations on the processor's assets, and a
failing ``dlq_not_growing`` when dead letters come in."""

import dagster as dg
import pytest
from dagster._serdes import serialize_value

from dagster_asp import AspProcessor, DagsterAspTranslator, build_asp_stats_sensor
from dagster_support.processors import admin, create, unique, wait_for


@pytest.fixture
def db(asp_workspace):
    database = admin(asp_workspace)
    yield database
    database.client.close()


def tick(sensor, asp, cursor=None):
    context = dg.build_sensor_context(cursor=cursor, resources={"asp": asp})
    with context:
        return sensor.evaluate_tick(context)


def checks_of(result):
    return {
        (e.asset_key.to_user_string(), e.check_name): e
        for e in result.asset_events
        if isinstance(e, dg.AssetCheckEvaluation)
    }


def test_observations_and_a_failing_dlq_check_when_the_dlq_grows(asp, asp_workspace, db):
    name, source = unique("stats"), unique("feed")
    asp_workspace.add_connection(source)
    dlq = {"connectionName": "__testLog", "db": "dead", "coll": name}
    processor = AspProcessor(
        name,
        [
            {"$source": {"connectionName": source}},
            {"$validate": {"validator": {"t": {"$type": "number"}}, "validationAction": "dlq"}},
            {"$merge": {"into": {"connectionName": "__testLog", "db": "out", "coll": name}}},
        ],
        options={"dlq": dlq},
    )
    create(db, name, [dict(stage) for stage in processor.pipeline], options={"dlq": dlq})
    keys = {s.key for s in DagsterAspTranslator().get_asset_specs(processor)}
    sensor = build_asp_stats_sensor(processors=[processor])

    asp_workspace.feed(source, [{"t": 1}, {"t": 2}])
    wait_for(lambda: asp_workspace.stats(name)["inputMessageCount"] == 2)
    first = tick(sensor, asp)
    observations = [e for e in first.asset_events if isinstance(e, dg.AssetObservation)]
    assert {o.asset_key for o in observations} == keys
    assert observations[0].metadata["asp/inputMessageCount"].value == 2
    checks = checks_of(first)
    assert {c for _, c in checks} == {"processor_running", "dlq_not_growing"}
    assert all(e.passed for e in checks.values())
    serialize_value(first.asset_events)  # what the daemon stores: no bson types

    asp_workspace.feed(source, [{"t": "hot"}, {"t": 3}])
    wait_for(lambda: asp_workspace.stats(name)["dlqMessageCount"] == 1)
    second = tick(sensor, asp, first.cursor)
    failing = [e for e in checks_of(second).values() if not e.passed]
    assert {e.check_name for e in failing} == {"dlq_not_growing"}
    assert {e.asset_key for e in failing} == keys
    assert "sent 1 more message(s) to its dead letter queue" in (failing[0].description or "")
    serialize_value(second.asset_events)

    third = tick(sensor, asp, second.cursor)  # nothing new: it passes again
    assert all(e.passed for e in checks_of(third).values())


def test_a_stopped_or_missing_processor_fails_processor_running(asp, asp_workspace, db):
    gone = AspProcessor(
        unique("gone"),
        [
            {"$source": {"connectionName": "sample_stream_solar"}},
            {"$emit": {"connectionName": "__testLog"}},
        ],
    )
    sensor = build_asp_stats_sensor(
        processors=[gone], checks=["processor_running", "has_throughput"]
    )
    result = tick(sensor, asp)
    running = [e for e in checks_of(result).values() if e.check_name == "processor_running"]
    assert running
    assert not any(e.passed for e in running)
    assert "does not exist" in (running[0].description or "")
