"""The state vocabulary: normalized spellings, running and failed states, "not found" errors."""

from __future__ import annotations

import pytest
from pymongo.errors import AutoReconnect, OperationFailure

from asp_core.waiting import states


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("STARTED", "STARTED"),
        ("started", "STARTED"),
        (" running ", "STARTED"),
        ("RUNNING", "STARTED"),
        ("ERROR", "FAILED"),
        ("error", "FAILED"),
        ("FAILED", "FAILED"),
        ("stopped", "STOPPED"),
        ("Created", "CREATED"),
        ("SOME_NEW_STATE", "SOME_NEW_STATE"),
        ("draining", "DRAINING"),
    ],
)
def test_normalize_state(given, normalized):
    assert states.normalize_state(given) == normalized


def test_normalize_states_takes_one_state_or_several():
    # a single string is one state, not a sequence of letters
    assert states.normalize_states("running") == frozenset({"STARTED"})
    assert states.normalize_states(["running", "STOPPED", "error"]) == frozenset(
        {"STARTED", "STOPPED", "FAILED"}
    )
    assert states.normalize_states(("STARTED", "RUNNING")) == frozenset({"STARTED"})
    assert states.normalize_states([]) == frozenset()


@pytest.mark.parametrize(
    ("state", "running", "failed"),
    [
        ("STARTED", True, False),
        ("RUNNING", True, False),
        ("running", True, False),
        ("STOPPED", False, False),
        ("CREATED", False, False),
        ("FAILED", False, True),
        ("ERROR", False, True),
        ("failed", False, True),
        ("SOME_NEW_STATE", False, False),
        ("", False, False),
    ],
)
def test_running_and_failed(state, running, failed):
    assert states.is_running(state) is running
    assert states.is_failed(state) is failed


@pytest.mark.parametrize(
    "exc",
    [
        OperationFailure("x", code=415),
        OperationFailure("", code=415),
        OperationFailure("processor p not found", code=1_000_000),
        OperationFailure("stream processor does not exist: p", code=1),
        OperationFailure("Stream Processor 'p' Does Not Exist", code=None),
        ValueError("processor p does not exist"),
    ],
)
def test_not_found(exc):
    assert states.is_not_found(exc)


@pytest.mark.parametrize(
    "exc",
    [
        OperationFailure("already exists", code=416),
        OperationFailure("unauthorized", code=13),
        OperationFailure("", code=2),
        AutoReconnect("connection closed"),
        ValueError("415"),
    ],
)
def test_not_not_found(exc):
    assert not states.is_not_found(exc)


def test_vocabulary_sets():
    assert states.STARTED in states.RUNNING_STATES
    assert states.FAILED in states.FAILURE_STATES
    assert {states.CREATED, states.STOPPED} == states.IDLE_STATES
    assert set(states.DESIRED_STATES) == {states.STARTED, states.STOPPED}
    assert not states.RUNNING_STATES & states.IDLE_STATES
    assert not states.FAILURE_STATES & (states.RUNNING_STATES | states.IDLE_STATES)
