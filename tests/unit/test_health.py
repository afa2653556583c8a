"""The core's health judgements (what Dagster's asset checks and sensors report). Pure."""

from asp_core.health import (
    DLQ_COUNT_KEY,
    ERROR,
    WARN,
    judge_dlq_not_growing,
    judge_processor_running,
)


def test_processor_running_is_the_desired_state():
    assert judge_processor_running("p", {"state": "STARTED"}).passed
    assert judge_processor_running("p", {"state": "CREATED"}, "STOPPED").passed
    stopped = judge_processor_running("p", {"state": "STOPPED"}, "STARTED")
    assert (stopped.passed, stopped.severity) == (False, ERROR)
    assert stopped.description == "Stream processor 'p' is STOPPED, not STARTED."
    failed = judge_processor_running("p", {"state": "FAILED", "error_msg": "gone", "error_code": 9})
    assert failed.description == "Stream processor 'p' FAILED: gone"
    assert failed.metadata["asp/error_code"] == 9
    assert judge_processor_running("p", None).description == "Stream processor 'p' does not exist."


def test_dlq_not_growing_compares_with_the_previous_count():
    first = judge_dlq_not_growing("p", {"stats": {"dlqMessageCount": 3}}, None)
    assert (first.passed, first.metadata) == (True, {DLQ_COUNT_KEY: 3})
    grew = judge_dlq_not_growing("p", {"dlqMessageCount": 4}, 3)
    assert (grew.passed, grew.severity) == (False, WARN)
    assert judge_dlq_not_growing("p", {"dlqMessageCount": 3}, 3).passed
    assert judge_dlq_not_growing("p", {}, 3).passed  # no counter: 0
