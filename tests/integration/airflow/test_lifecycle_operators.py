"""Create, start, stop, drop and modify operators, run with ``execute()`` against the
emulator; the commands they send are counted with pymongo command monitoring."""

from __future__ import annotations

import datetime
import json
import time
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException
from bson import Timestamp
from pymongo.errors import OperationFailure

from airflow_provider_asp.operators.asp import (
    AspCreateProcessorOperator,
    AspDropProcessorOperator,
    AspGetProcessorStatsOperator,
    AspModifyProcessorOperator,
    AspStartProcessorOperator,
    AspStopProcessorOperator,
)
from asp_core.errors import (
    AspConnectionError,
    AspDefinitionConflictError,
    AspInputError,
    AspProcessorFailedError,
    AspProcessorFailedFatalError,
    AspProcessorNotFoundError,
    AspUncertainOutcomeError,
)
from tests.support.airflow import PASSWORD, SOURCE, connection_json, pipeline
from tests.support.operators import FAST, arrange, failing_on_start, run, wait_until

GET, CREATE, START, STOP = (
    "getStreamProcessor",
    "createStreamProcessor",
    "startStreamProcessor",
    "stopStreamProcessor",
)


# -- create ---------------------------------------------------------------------------------


def test_create_then_retry_sends_no_second_create(workspace, name, monitored, commands):
    op = monitored(
        AspCreateProcessorOperator(task_id="c", processor_name=name, pipeline=pipeline({"a": 1}))
    )
    info = run(op)
    assert info["name"] == name
    assert info["state"] == "CREATED"
    assert info["pipeline"] == pipeline({"a": 1})
    assert commands.take() == [GET, CREATE, GET]
    again = monitored(
        AspCreateProcessorOperator(task_id="c", processor_name=name, pipeline=pipeline({"a": 1}))
    )
    assert run(again)["id"] == info["id"]
    assert commands.take() == [GET]


def test_create_accepts_a_json_string_pipeline(workspace, name):
    op = AspCreateProcessorOperator(
        task_id="c",
        processor_name=name,
        pipeline=json.dumps(pipeline({"a": 1})),
        dlq='{"connectionName": "__testLog", "db": "d", "coll": "c"}',
        tier="SP5",
    )
    info = run(op)
    assert info["pipeline"][0] == {"$source": {"documents": [{"a": 1}]}}
    assert info["tier"] == "SP5"
    assert info["dlq"] == {"connectionName": "__testLog", "db": "d", "coll": "c"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"processor_name": ""}, "processor_name must be a non-empty string"),
        ({"processor_name": "   "}, "processor_name must be a non-empty string"),
        ({"pipeline": "[{"}, "pipeline is not valid JSON"),
        ({"pipeline": '{"$source": {}}'}, "pipeline must be a list of stages, not dict"),
        ({"pipeline": []}, "pipeline must not be empty"),
        ({"pipeline": [1]}, "pipeline stage 0 must be a document"),
        ({"tier": "SP999"}, "tier must be one of"),
        ({"if_exists": "overwrite"}, "if_exists must be one of"),
        ({"dlq": "[]"}, "dlq must be a document"),
    ],
)
def test_create_refuses_bad_input_before_any_command(
    workspace, name, monitored, commands, kwargs, message
):
    arguments = {"task_id": "c", "processor_name": name, "pipeline": pipeline({"a": 1}), **kwargs}
    op = monitored(AspCreateProcessorOperator(**arguments))
    with pytest.raises(AspInputError, match=message) as caught:
        run(op)
    assert isinstance(caught.value, AirflowFailException)
    assert commands.take() == []
    assert name not in workspace.processors()


def test_create_error_policy_refuses_a_different_definition(client, name, monitored, commands):
    arrange(client, name)
    op = monitored(
        AspCreateProcessorOperator(task_id="c", processor_name=name, pipeline=pipeline({"b": 2}))
    )
    with pytest.raises(AspDefinitionConflictError, match="different pipeline"):
        run(op)
    assert commands.take() == [GET]


def test_create_compares_pipelines_with_their_key_order(client, name):
    stages: list[dict[str, Any]] = [
        {"$source": {"connectionName": SOURCE}},
        {"$project": {"a": 1, "b": 1}},
        {"$emit": {"connectionName": "__testLog"}},
    ]
    arrange(client, name, stages=stages)
    reordered = [stages[0], {"$project": {"b": 1, "a": 1}}, stages[2]]
    with pytest.raises(AspDefinitionConflictError):
        run(AspCreateProcessorOperator(task_id="c", processor_name=name, pipeline=reordered))


def test_create_skip_policy_keeps_the_processor(workspace, client, name, capfd):
    arrange(client, name, "STARTED")
    op = AspCreateProcessorOperator(
        task_id="c", processor_name=name, pipeline=pipeline({"b": 2}), if_exists="skip"
    )
    assert run(op)["pipeline"] == pipeline(source=SOURCE)
    assert "different pipeline: keeping it" in capfd.readouterr().out
    assert workspace.processors()[name] == "STARTED"


def test_create_modify_policy_keeps_a_running_processor_running(client, name, monitored, commands):
    arrange(client, name, "STARTED")
    new = [*pipeline(source=SOURCE)[:1], {"$match": {"x": 1}}, *pipeline(source=SOURCE)[1:]]
    op = monitored(
        AspCreateProcessorOperator(
            task_id="c", processor_name=name, pipeline=new, if_exists="modify"
        )
    )
    info = run(op)
    assert (info["state"], info["pipeline"]) == ("STARTED", new)
    assert commands.take() == [GET, STOP, GET, "modifyStreamProcessor", START, GET]


def test_create_replace_policy_recreates_the_processor(client, name):
    arrange(client, name, "STARTED")
    before = client.stream_processors().get_info(name)
    op = AspCreateProcessorOperator(
        task_id="c", processor_name=name, pipeline=pipeline({"b": 2}), if_exists="replace"
    )
    info = run(op)
    assert info["state"] == "CREATED"
    assert info["pipeline"] == pipeline({"b": 2})
    assert info["id"] != before.id


def test_create_after_a_lost_reply_looks_then_creates_once(
    workspace, name, add_connection, monitored, commands
):
    conn_id = add_connection(
        "asp_fast", connection_json(workspace, extra={"socket_timeout_ms": 300})
    )
    op = monitored(
        AspCreateProcessorOperator(
            task_id="c", processor_name=name, pipeline=pipeline({"a": 1}), asp_conn_id=conn_id
        )
    )
    workspace.inject_fault(CREATE, delay=0.6)  # the first reply never comes in time
    assert run(op)["state"] == "CREATED"
    # the lost create, a look that does not find it yet, the create sent again, the result
    assert commands.take() == [GET, CREATE, GET, CREATE, GET]
    # the delayed first create meets the processor the second one made: still exactly one
    wait_until(lambda: workspace.command_counts()[CREATE] >= 2)
    assert workspace.processors()[name] == "CREATED"


# -- start ----------------------------------------------------------------------------------


def test_start_waits_for_started_and_a_retry_does_not_start_again(
    workspace, client, name, monitored, commands
):
    arrange(client, name)
    info = run(monitored(AspStartProcessorOperator(task_id="s", processor_name=name, **FAST)))
    assert info["state"] == "STARTED"
    assert commands.take() == [GET, START, GET]
    changed = workspace.processor(name)["lastStateChange"]
    info = run(monitored(AspStartProcessorOperator(task_id="s", processor_name=name, **FAST)))
    assert info["state"] == "STARTED"
    assert commands.take() == [GET]
    assert workspace.processor(name)["lastStateChange"] == changed


def test_start_passes_its_options(workspace, client, name):
    arrange(client, name, "STOPPED")
    op = AspStartProcessorOperator(
        task_id="s", processor_name=name, tier="SP30", workers=2, enable_auto_scaling=True, **FAST
    )
    info = run(op)
    assert (info["tier"], info["enable_auto_scaling"]) == ("SP30", True)


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-01T00:00:00+00:00",  # what "{{ data_interval_start }}" renders
        "2026-01-01T01:00:00+01:00",
        datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
        1767225600,
        Timestamp(1767225600, 1),
    ],
)
def test_start_at_operation_time_accepts_what_a_dag_author_writes(
    client, name, monitored, commands, value
):
    arrange(client, name, "STOPPED")
    op = AspStartProcessorOperator(
        task_id="s", processor_name=name, start_at_operation_time=value, **FAST
    )
    run(monitored(op))
    (start,) = [c for c in commands.commands if "startStreamProcessor" in c]
    assert start["options"]["startAtOperationTime"] == Timestamp(1767225600, 1)


def test_start_fails_at_once_when_the_processor_fails(workspace, client, name):
    failing_on_start(workspace, client, name)
    op = AspStartProcessorOperator(task_id="s", processor_name=name, poll_interval=0.05, timeout=30)
    started = time.monotonic()
    with pytest.raises(AspProcessorFailedFatalError) as caught:
        run(op)
    assert time.monotonic() - started < 2
    assert (caught.value.error_msg, caught.value.error_code) == ("sink unreachable", 4242)
    assert "sink unreachable" in str(caught.value)
    assert "4242" in str(caught.value)
    assert isinstance(caught.value, AirflowFailException)


def test_a_retryable_processor_failure_leaves_task_retries_available(workspace, client, name):
    failing_on_start(workspace, client, name, retryable=True)
    with pytest.raises(AspProcessorFailedError) as caught:
        run(AspStartProcessorOperator(task_id="s", processor_name=name, **FAST))
    assert not isinstance(caught.value, AirflowFailException)


def test_start_restarts_a_failed_processor(workspace, client, name, capfd):
    arrange(client, name, "STARTED")
    workspace.fail_processor(name, "transient", code=77)
    wait_until(lambda: workspace.processors()[name] == "FAILED")
    assert (
        run(AspStartProcessorOperator(task_id="s", processor_name=name, **FAST))["state"]
        == "STARTED"
    )
    assert "FAILED before (transient, errorCode 77): restarting it" in capfd.readouterr().out


def test_start_without_waiting_reads_the_state_once(client, name, monitored, commands):
    arrange(client, name)
    op = monitored(
        AspStartProcessorOperator(task_id="s", processor_name=name, wait_for_completion=False)
    )
    assert run(op)["state"] == "STARTED"
    assert commands.take() == [GET, START, GET]


def test_start_of_a_missing_processor_fails(workspace, name):
    with pytest.raises(AspProcessorNotFoundError, match=name):
        run(AspStartProcessorOperator(task_id="s", processor_name=name, **FAST))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tier": "SP1"}, "tier must be one of"),
        ({"workers": 0}, "workers must be positive"),
        ({"start_after": {"a": 1}, "start_at_operation_time": 5}, "mutually exclusive"),
        ({"start_at_operation_time": "yesterday"}, "'yesterday' is not a time: give an ISO-8601"),
        ({"start_at_operation_time": "2026-01-01T00:00:00"}, "has no UTC offset"),
        (
            {"start_at_operation_time": datetime.datetime(2026, 1, 1)},
            "not a naive datetime datetime.datetime",
        ),
        ({"timeout": 0}, "timeout must be a positive number"),
        ({"poll_interval": -1}, "poll_interval must be a positive number"),
    ],
)
def test_start_refuses_bad_input_before_any_command(
    client, name, monitored, commands, kwargs, message
):
    arrange(client, name)
    with pytest.raises(AspInputError, match=message):
        run(monitored(AspStartProcessorOperator(task_id="s", processor_name=name, **kwargs)))
    assert commands.take() == []


def test_start_after_a_lost_reply_looks_and_ends_started(
    workspace, client, name, add_connection, monitored, commands
):
    arrange(client, name)
    conn_id = add_connection(
        "asp_fast", connection_json(workspace, extra={"socket_timeout_ms": 300})
    )
    workspace.inject_fault(START, delay=0.6)
    op = AspStartProcessorOperator(task_id="s", processor_name=name, asp_conn_id=conn_id, **FAST)
    assert run(monitored(op))["state"] == "STARTED"
    sent = commands.take()
    assert sent[:3] == [GET, START, GET]  # the lost start, then a look
    assert sent.count(START) == 2  # the look showed it not started: sent again, once
    commands.take()
    again = AspStartProcessorOperator(task_id="s", processor_name=name, asp_conn_id=conn_id, **FAST)
    assert run(monitored(again))["state"] == "STARTED"
    assert commands.take() == [GET]  # a retry finds it running and sends nothing


def test_on_kill_stops_the_processor_the_task_started(workspace, client, name):
    arrange(client, name)
    op = AspStartProcessorOperator(task_id="s", processor_name=name, **FAST)
    run(op)
    op.on_kill()
    assert workspace.processors()[name] == "STOPPED"


def test_on_kill_leaves_a_processor_the_task_found_running(workspace, client, name):
    arrange(client, name, "STARTED")
    op = AspStartProcessorOperator(task_id="s", processor_name=name, **FAST)
    run(op)
    op.on_kill()
    assert workspace.processors()[name] == "STARTED"


# -- stop and drop --------------------------------------------------------------------------


def test_stop_waits_for_stopped_and_a_retry_is_a_no_op(client, name, monitored, commands):
    arrange(client, name, "STARTED")
    assert (
        run(monitored(AspStopProcessorOperator(task_id="t", processor_name=name, **FAST)))["state"]
        == "STOPPED"
    )
    assert commands.take() == [GET, STOP, GET]
    assert (
        run(monitored(AspStopProcessorOperator(task_id="t", processor_name=name, **FAST)))["state"]
        == "STOPPED"
    )
    assert commands.take() == [GET]


def test_stop_of_a_failed_processor_is_a_no_op(workspace, client, name, monitored, commands):
    arrange(client, name, "STARTED")
    workspace.fail_processor(name, "boom", code=5)
    assert (
        run(monitored(AspStopProcessorOperator(task_id="t", processor_name=name)))["state"]
        == "FAILED"
    )
    assert commands.take() == [GET]


def test_stop_of_a_missing_processor(workspace, name):
    with pytest.raises(AspProcessorNotFoundError):
        run(AspStopProcessorOperator(task_id="t", processor_name=name))
    assert run(AspStopProcessorOperator(task_id="t", processor_name=name, missing_ok=True)) is None


def test_drop_is_idempotent(workspace, client, name, monitored, commands):
    arrange(client, name, "STARTED")
    assert run(monitored(AspDropProcessorOperator(task_id="d", processor_name=name))) == {
        "processor_name": name,
        "dropped": True,
    }
    assert commands.take() == [GET, "dropStreamProcessor"]
    assert name not in workspace.processors()
    assert run(AspDropProcessorOperator(task_id="d", processor_name=name))["dropped"] is False
    with pytest.raises(AspProcessorNotFoundError):
        run(AspDropProcessorOperator(task_id="d", processor_name=name, missing_ok=False))


# -- modify ---------------------------------------------------------------------------------


def with_match(value):
    stages = pipeline(source=SOURCE)
    return [stages[0], {"$match": {"v": value}}, stages[1]]


def test_modify_restarts_a_running_processor(client, name, monitored, commands):
    arrange(client, name, "STARTED")
    op = monitored(
        AspModifyProcessorOperator(
            task_id="m", processor_name=name, pipeline=with_match(1), tier="SP5", **FAST
        )
    )
    info = run(op)
    assert (info["state"], info["pipeline"], info["tier"]) == ("STARTED", with_match(1), "SP5")
    assert commands.take() == [GET, STOP, GET, "modifyStreamProcessor", START, GET]
    run(
        monitored(
            AspModifyProcessorOperator(
                task_id="m", processor_name=name, pipeline=with_match(1), **FAST
            )
        )
    )
    assert commands.take() == [GET]


def test_modify_without_restart_leaves_it_stopped(client, name):
    arrange(client, name, "STARTED")
    info = run(
        AspModifyProcessorOperator(
            task_id="m", processor_name=name, pipeline=with_match(2), restart=False, **FAST
        )
    )
    assert info["state"] == "STOPPED"


def test_a_refused_modify_restores_the_running_processor(workspace, client, name):
    arrange(client, name, "STARTED")
    other_source = pipeline({"a": 1})
    op = AspModifyProcessorOperator(task_id="m", processor_name=name, pipeline=other_source, **FAST)
    with pytest.raises(OperationFailure, match=r"\$source stage cannot change"):
        run(op)
    assert workspace.processors()[name] == "STARTED"
    assert workspace.processor(name)["pipeline"] == pipeline(source=SOURCE)


def test_modify_rename_survives_a_retry(workspace, client, name):
    arrange(client, name, "STOPPED")
    op = AspModifyProcessorOperator(task_id="m", processor_name=name, new_name=f"{name}_v2", **FAST)
    assert run(op)["name"] == f"{name}_v2"
    assert run(op)["name"] == f"{name}_v2"  # the retry finds it renamed already
    assert name not in workspace.processors()


def test_modify_needs_something_to_change(client, name, monitored, commands):
    with pytest.raises(AspInputError, match="Nothing to modify"):
        run(monitored(AspModifyProcessorOperator(task_id="m", processor_name=name)))
    with pytest.raises(AspInputError, match="tier must be one of"):
        run(monitored(AspModifyProcessorOperator(task_id="m", processor_name=name, tier="XL")))
    assert commands.take() == []


# -- error messages keep their cause --------------------------------------------------------


def test_a_dropped_connection_names_the_command_host_timeouts_and_cause(
    workspace, faults, client, name
):
    arrange(client, name, "STARTED")
    workspace.inject_fault("getStreamProcessorStats", times=-1, close_connection=True)
    with pytest.raises(AspConnectionError) as raised:
        run(AspGetProcessorStatsOperator(task_id="s", processor_name=name))
    message = str(raised.value)
    assert "getStreamProcessorStats" in message
    assert f"{workspace.host}:{workspace.port}" in message
    assert "socket 5000 ms" in message
    assert "AutoReconnect" in message
    assert PASSWORD not in message


def test_a_retryable_error_that_persists_says_what_may_have_happened(faults, client, name):
    arrange(client, name, "STARTED")
    faults.inject_fault(STOP, times=-1, code=91, error_labels=("RetryableWriteError",))
    with pytest.raises(AspUncertainOutcomeError) as raised:
        run(AspStopProcessorOperator(task_id="t", processor_name=name, **FAST))
    message = str(raised.value)
    assert "stopStreamProcessor of stream processor" in message
    assert "code 91" in message
    assert "RetryableWriteError" in message
    assert "last known state is STARTED" in message
