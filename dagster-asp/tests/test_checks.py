"""``processor_running`` and ``dlq_not_growing``: evaluated after a deploy, and the same
judgement as runless evaluations for a sensor."""

import time

import dagster as dg
from dagster._serdes import serialize_value

from asp_core.health import judge_dlq_not_growing, judge_processor_running
from dagster_asp import (
    DLQ_NOT_GROWING,
    PROCESSOR_RUNNING,
    build_asp_processor_assets,
    evaluate_dlq_not_growing,
    evaluate_processor_running,
)
from dagster_support.processors import INPUT, orders_processor, unique


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def checks_of(result):
    return {
        (tuple(c.asset_key.path), c.check_name): c for c in result.get_asset_check_evaluations()
    }


def test_dlq_not_growing_fails_when_the_dlq_grew_since_the_last_evaluation(asp_workspace, asp):
    name = unique("dg_dlq")
    (assets,) = build_asp_processor_assets(
        [orders_processor(asp_workspace, name)], poll_interval=0.1, timeout=30
    )
    with dg.instance_for_test() as instance:
        first = dg.materialize([assets], resources={"asp": asp}, instance=instance)
        evaluation = checks_of(first)[(("dg_cluster", "shop", name), DLQ_NOT_GROWING)]
        assert evaluation.passed
        assert evaluation.metadata["asp/dlq_message_count"].value == 0

        asp_workspace.feed(INPUT, [{"ok": False}, {"ok": False}], topic=name)
        wait_for(lambda: asp_workspace.stats(name)["dlqMessageCount"] == 2)
        second = dg.materialize([assets], resources={"asp": asp}, instance=instance)
        assert second.success  # a WARN check does not fail the run
        checks = checks_of(second)
        grew = checks[(("dg_cluster", "shop", name), DLQ_NOT_GROWING)]
        assert not grew.passed
        assert grew.severity == dg.AssetCheckSeverity.WARN
        assert grew.description == (
            f"Stream processor {name!r} sent 2 more message(s) to its dead letter queue (0 -> 2)."
        )
        assert checks[(("dg_cluster", "shop", name), PROCESSOR_RUNNING)].passed

        third = dg.materialize([assets], resources={"asp": asp}, instance=instance)
        assert checks_of(third)[(("dg_cluster", "shop", name), DLQ_NOT_GROWING)].passed
        for event in [*first.all_events, *second.all_events]:
            serialize_value(event)


def test_the_judgements_for_a_sensor_are_runless_evaluations():
    key = dg.AssetKey(["dg_cluster", "shop", "orders"])
    failed = {"state": "FAILED", "error_msg": "Kafka gone", "error_code": 125}
    evaluation = evaluate_processor_running(key, "orders", failed)
    assert (evaluation.passed, evaluation.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert evaluation.description == "Stream processor 'orders' FAILED: Kafka gone"
    serialize_value(evaluation)
    assert not evaluate_processor_running(key, "orders", None).passed
    assert not judge_processor_running("o", {"state": "STOPPED"}, "STARTED").passed
    assert judge_processor_running("o", {"state": "CREATED"}, "STOPPED").passed
    assert not judge_processor_running("o", {"state": "STARTED"}, "STOPPED").passed

    stats = {"stats": {"dlqMessageCount": 5}, "ok": 1}
    assert evaluate_dlq_not_growing(key, "orders", stats, None).passed  # first look
    assert not evaluate_dlq_not_growing(key, "orders", stats, 4).passed
    assert judge_dlq_not_growing("orders", {"dlqMessageCount": 5}, 5).passed
    assert judge_dlq_not_growing("orders", {"dlqMessageCount": 0}, 5).passed  # recreated
