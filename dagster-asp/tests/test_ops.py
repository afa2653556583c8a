"""Start, stop and drop ops: the core's plans for those verbs, bounded waits, and errors no
retry can fix as ``Failure(allow_retries=False)``."""

import dagster as dg

from dagster_asp import (
    asp_drop_processor_op,
    asp_start_processor_op,
    asp_stop_processor_op,
    build_asp_processor_assets,
)
from dagster_support.processors import asp_commands, orders_processor, sent_since, unique


def run_op(op, asp, **config):
    @dg.job(resource_defs={"asp": asp})
    def one_op():
        op()

    config = {"poll_interval": 0.1, "timeout": 30, **config}
    return one_op.execute_in_process(
        run_config={"ops": {op.name: {"config": config}}}, raise_on_error=False
    )


def test_start_stop_drop(asp_workspace, asp):
    name = unique("dg_ops")
    processor = orders_processor(asp_workspace, name, desired_state="STOPPED")
    assert dg.materialize(build_asp_processor_assets([processor]), resources={"asp": asp}).success

    started = run_op(asp_start_processor_op, asp, processor_name=name)
    assert started.success
    assert started.output_for_node("asp_start_processor_op")["state"] == "STARTED"
    before = asp_commands(asp_workspace.command_counts())
    again = run_op(asp_start_processor_op, asp, processor_name=name)
    assert again.success
    assert sent_since(asp_workspace, before) == {"getStreamProcessor": 1}  # already running

    stopped = run_op(asp_stop_processor_op, asp, processor_name=name)
    assert stopped.output_for_node("asp_stop_processor_op")["state"] == "STOPPED"
    assert asp_workspace.processors()[name] == "STOPPED"

    dropped = run_op(asp_drop_processor_op, asp, processor_name=name)
    assert dropped.output_for_node("asp_drop_processor_op") == {
        "processor_name": name,
        "dropped": True,
    }
    assert name not in asp_workspace.processors()
    again = run_op(asp_drop_processor_op, asp, processor_name=name)
    assert again.output_for_node("asp_drop_processor_op")["dropped"] is False
    missing_ok = run_op(asp_stop_processor_op, asp, processor_name=name, missing_ok=True)
    assert missing_ok.output_for_node("asp_stop_processor_op") == {}


def test_a_missing_processor_fails_without_retries(asp_workspace, asp):
    name = unique("dg_missing")
    result = run_op(asp_start_processor_op, asp, processor_name=name)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    data = failure.step_failure_data.user_failure_data
    assert data is not None
    where = f"connection 'asp', host {asp_workspace.host}:{asp_workspace.port}"
    assert data.description == f"Stream processor {name!r} does not exist ({where})."


def test_a_processor_failing_on_start_fails_the_op_with_the_servers_words(asp_workspace, asp):
    name = unique("dg_opfail")
    processor = orders_processor(asp_workspace, name, desired_state="STOPPED")
    assert dg.materialize(build_asp_processor_assets([processor]), resources={"asp": asp}).success
    asp_workspace.fail_processor_on_start(name, "schema registry refused the credentials")
    result = run_op(asp_start_processor_op, asp, processor_name=name)
    (failure,) = result.get_step_failure_events()
    data = failure.step_failure_data.user_failure_data
    assert data is not None
    assert "schema registry refused the credentials" in (data.description or "")
