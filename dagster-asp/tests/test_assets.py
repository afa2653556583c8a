"""Processors as assets: an idempotent deploy with the core's plan, JSON-safe metadata, the
core's errors as Dagster's, bounded waits, and no password anywhere."""

import time

import dagster as dg
from dagster._serdes import serialize_value

from dagster_asp import AspProcessor, build_asp_processor_assets
from dagster_support.processors import asp_commands, orders_processor, sent_since, unique
from dagster_support.workspaces import PASSWORD, resource_for


def materialize(assets, asp, instance=None, **kwargs):
    return dg.materialize(assets, resources={"asp": asp}, instance=instance, **kwargs)


def metadata_of(result, key):
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_materialize_twice_deploys_once_then_reads_once(asp_workspace, asp, capfd):
    name = unique("dg_orders")
    processor = orders_processor(asp_workspace, name)
    (assets,) = build_asp_processor_assets([processor], poll_interval=0.1, timeout=30)
    keys = sorted(assets.keys, key=str)
    assert [key.path for key in keys] == [
        ["dg_cluster", "shop", name],
        ["dg_cluster", "shop", f"{name}_dlq"],
    ]
    with dg.instance_for_test() as instance:
        first = materialize([assets], asp, instance)
        assert first.success
        meta = metadata_of(first, keys[0])
        assert meta["asp/steps"] == ["create", "start"]
        assert meta["asp/changed"] is True
        assert meta["asp/state"] == "STARTED"
        assert "T" in meta["asp/last_state_change"]
        assert asp_workspace.processors()[name] == "STARTED"
        for event in first.all_events:
            serialize_value(event)  # what the daemon does: a bson.Int64 would fail here

        before = asp_commands(asp_workspace.command_counts())
        second = materialize([assets], asp, instance)
        assert second.success
        assert sent_since(asp_workspace, before) == {
            "getStreamProcessor": 1,
            "getStreamProcessorStats": 1,  # the dlq_not_growing check
        }
        for key in keys:
            meta = metadata_of(second, key)
            assert (meta["asp/steps"], meta["asp/changed"]) == ([], False)
        logs = "\n".join(str(entry.user_message) for entry in instance.all_logs(second.run_id))
        assert f"Stream processor {name!r} is STARTED: nothing to do." in logs
        stored = serialize_value(instance.all_logs(first.run_id))
    captured = capfd.readouterr()
    assert PASSWORD not in captured.out + captured.err + stored + logs


def test_a_changed_pipeline_is_modified_and_stopped_state_is_kept(asp_workspace, asp):
    name = unique("dg_modify")
    processor = orders_processor(asp_workspace, name)
    (assets,) = build_asp_processor_assets([processor], poll_interval=0.1, timeout=30)
    assert materialize([assets], asp).success

    changed = AspProcessor(
        name,
        [*processor.pipeline[:1], *processor.pipeline[2:]],  # no $validate any more
        options=processor.options,
    )
    (assets,) = build_asp_processor_assets([changed], poll_interval=0.1, timeout=30)
    result = materialize([assets], asp)
    key = next(iter(sorted(assets.keys, key=str)))
    assert metadata_of(result, key)["asp/steps"] == ["stop", "modify", "start"]
    assert asp_workspace.processor(name)["pipeline"] == changed.pipeline

    stopped = AspProcessor(name, changed.pipeline, options=changed.options, desired_state="STOPPED")
    (assets,) = build_asp_processor_assets([stopped], poll_interval=0.1, timeout=30)
    result = materialize([assets], asp)
    meta = metadata_of(result, key)
    assert (meta["asp/steps"], meta["asp/state"]) == (["stop"], "STOPPED")
    assert asp_workspace.processors()[name] == "STOPPED"
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"processor_running": True, "dlq_not_growing": True}


def test_a_processor_without_named_output_gets_one_asset_under_asp():
    processor = AspProcessor(
        "dg_dynamic",
        [
            {"$source": {"connectionName": "sample_stream_solar"}},
            {"$emit": {"connectionName": "kafka", "topic": {"$concat": ["t_", "$device"]}}},
        ],
    )
    (assets,) = build_asp_processor_assets([processor])
    assert set(assets.keys) == {dg.AssetKey(["asp", "dg_dynamic"])}
    assert {c.name for c in assets.check_specs} == {"processor_running", "dlq_not_growing"}


def test_desired_stopped_creates_without_starting(asp_workspace, asp):
    name = unique("dg_solar")
    processor = AspProcessor(
        name,
        [
            {"$source": {"connectionName": "sample_stream_solar"}},
            {"$emit": {"connectionName": "__testLog"}},
        ],
        desired_state="STOPPED",
    )
    (assets,) = build_asp_processor_assets([processor])
    result = materialize([assets], asp)
    assert metadata_of(result, dg.AssetKey(["__testLog"]))["asp/steps"] == ["create"]
    assert asp_workspace.processors()[name] == "CREATED"


def test_failed_on_start_fails_the_run_with_the_servers_words_and_no_retry(asp_workspace, asp):
    name = unique("dg_fails")
    processor = orders_processor(asp_workspace, name)
    asp_workspace.fail_processor_on_start(name, "Kafka broker unreachable: orders topic gone")
    assets = build_asp_processor_assets([processor], poll_interval=0.1, timeout=30)
    defs = dg.Definitions(
        assets=assets,
        jobs=[dg.define_asset_job("deploy", op_retry_policy=dg.RetryPolicy(max_retries=2))],
        resources={"asp": asp},
    )
    before = asp_commands(asp_workspace.command_counts())
    result = defs.resolve_job_def("deploy").execute_in_process(raise_on_error=False)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    data = failure.step_failure_data
    assert data.user_failure_data is not None  # a dg.Failure
    description = data.user_failure_data.description or ""
    assert "Kafka broker unreachable: orders topic gone" in description
    assert f"Stream processor {name!r} FAILED" in description
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert sent_since(asp_workspace, before).get("startStreamProcessor") == 1


def test_a_lost_reply_is_resolved_by_looking(asp_workspace, asp):
    name = unique("dg_lost")
    processor = orders_processor(asp_workspace, name)
    asp_workspace.inject_fault("createStreamProcessor", after_effect=True, close_connection=True)
    try:
        (assets,) = build_asp_processor_assets([processor], poll_interval=0.1, timeout=30)
        before = asp_commands(asp_workspace.command_counts())
        result = materialize([assets], asp)
    finally:
        asp_workspace.clear_faults()
    assert result.success
    assert asp_workspace.processors()[name] == "STARTED"
    assert sent_since(asp_workspace, before)["createStreamProcessor"] == 1  # never sent again


def test_a_silent_server_costs_at_most_the_timeout(asp_workspace, asp):
    name = unique("dg_silent")
    processor = orders_processor(asp_workspace, name)
    asp_workspace.inject_fault("getStreamProcessor", times=-1, delay=30.0)
    try:
        (assets,) = build_asp_processor_assets([processor], timeout=2, poll_interval=0.1)
        started = time.monotonic()
        result = materialize([assets], asp, raise_on_error=False)
        elapsed = time.monotonic() - started
    finally:
        asp_workspace.clear_faults()
    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert failure.step_failure_data.user_failure_data is None  # retryable, not a Failure
    assert elapsed < 2 + 8, elapsed


def test_a_refused_login_is_said_in_plain_words_without_the_password(asp_workspace, capfd):
    wrong = "hunter2-not-the-password"
    asp = resource_for(asp_workspace, password=wrong)
    processor = orders_processor(asp_workspace, unique("dg_login"))
    (assets,) = build_asp_processor_assets([processor], timeout=10, poll_interval=0.1)
    with dg.instance_for_test() as instance:
        result = materialize([assets], asp, instance, raise_on_error=False)
        assert not result.success
        (failure,) = result.get_step_failure_events()
        error, messages = failure.step_failure_data.error, []
        while error is not None:
            messages.append(error.message)
            error = error.cause
        words = "AspConnectionError: Connection 'asp': Authentication failed for user 'admin'"
        assert any(m.startswith(f"asp_core.errors.{words}") for m in messages), messages
        assert failure.step_failure_data.user_failure_data is None  # retryable
        stored = serialize_value(instance.all_logs(result.run_id))
    captured = capfd.readouterr()
    assert wrong not in stored + captured.out + captured.err
