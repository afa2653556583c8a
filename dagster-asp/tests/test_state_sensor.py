"""The state sensor against the emulator: transitions as runs, once each, one read per tick."""

import json

import dagster as dg
import pytest
from dagster._serdes import serialize_value

from dagster_asp import build_asp_state_sensor
from dagster_asp.sensors import cursors
from dagster_support.processors import admin, running_solar, wait_for


@dg.op
def react() -> None:
    pass


@dg.job
def on_failure() -> None:
    react()


@pytest.fixture
def db(asp_workspace):
    database = admin(asp_workspace)
    yield database
    database.client.close()


def tick(sensor, asp, cursor=None, instance=None):
    context = dg.build_sensor_context(cursor=cursor, resources={"asp": asp}, instance=instance)
    with context:
        result = sensor.evaluate_tick(context)
    return result


def test_a_failure_is_one_run_with_its_tags_once_across_ticks(asp, asp_workspace, db):
    healthy = running_solar(asp_workspace, db)
    failing = running_solar(asp_workspace, db)
    sensor = build_asp_state_sensor(target=on_failure, processor_names=[healthy, failing])
    first = tick(sensor, asp)
    assert first.run_requests == []
    asp_workspace.fail_processor(failing, "boom: sink unreachable", code=8, retryable=True)
    wait_for(lambda: asp_workspace.processors()[failing] == "FAILED")
    second = tick(sensor, asp, first.cursor)
    (request,) = second.run_requests
    info = asp_workspace.processor(failing)
    changed = info["lastStateChange"]
    assert request.run_key.startswith(f"asp-state:{failing}:FAILED@")
    assert {k: v for k, v in request.tags.items() if k.startswith("asp/")} == {
        "asp/processor": failing,
        "asp/state": "FAILED",
        "asp/last_state_change": request.tags["asp/last_state_change"],
        "asp/error_msg": "boom: sink unreachable",
        "asp/error_code": "8",
        "asp/error_retryable": "true",
    }
    assert str(changed.year) in request.tags["asp/last_state_change"]
    assert tick(sensor, asp, second.cursor).run_requests == []  # the same failure: told once
    serialize_value(second.run_requests)
    data = cursors.load(second.cursor, "asp_state")
    assert set(data["p"]) == {healthy, failing}
    assert "admin-password" not in second.cursor + json.dumps(request.tags)


def test_a_processor_already_failed_on_the_first_tick_is_an_event(asp, asp_workspace, db):
    name = running_solar(asp_workspace, db)
    asp_workspace.fail_processor(name, "already broken")
    wait_for(lambda: asp_workspace.processors()[name] == "FAILED")
    sensor = build_asp_state_sensor(target=on_failure, processor_names=[name])
    first = tick(sensor, asp)
    assert [r.tags["asp/processor"] for r in first.run_requests] == [name]
    assert tick(sensor, asp, first.cursor).run_requests == []
    # a lost cursor tells it again, with the same run_key: Dagster launches it once
    assert tick(sensor, asp).run_requests[0].run_key == first.run_requests[0].run_key


def test_many_processors_cost_one_command_per_tick(asp, asp_workspace, db):
    names = [running_solar(asp_workspace, db, "many") for _ in range(30)]
    sensor = build_asp_state_sensor(target=on_failure, processor_names=names)
    cursor = tick(sensor, asp).cursor
    before = asp_workspace.command_counts()
    for _ in range(3):
        cursor = tick(sensor, asp, cursor).cursor
    after = asp_workspace.command_counts()
    sent = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    sent = {k: v for k, v in sent.items() if v and k in ASP_COMMANDS}
    assert sent == {"listStreamProcessors": 3}


ASP_COMMANDS = {
    "listStreamProcessors",
    "getStreamProcessor",
    "getStreamProcessorStats",
    "startSampleStreamProcessor",
    "getMoreSampleStreamProcessor",
}


def test_every_processor_when_no_names_are_given(asp, asp_workspace, db):
    name = running_solar(asp_workspace, db, "all")
    sensor = build_asp_state_sensor(target=on_failure, states=["STARTED", "FAILED"])
    first = tick(sensor, asp)
    assert name in {r.tags["asp/processor"] for r in first.run_requests}
    assert len(cursors.load(first.cursor, "asp_state")["p"]) == len(asp_workspace.processors())


def test_a_spent_budget_carries_the_rest_over(asp, asp_workspace, db):
    names = sorted(running_solar(asp_workspace, db, "budget") for _ in range(3))
    sensor = build_asp_state_sensor(
        target=on_failure, processor_names=names, states=["STARTED"], budget_seconds=1e-9
    )
    result = tick(sensor, asp)
    assert result.run_requests == []
    assert cursors.load(result.cursor, "asp_state")["resume"] == names[0]
