"""The one integer check and the one state-list check every operator, sensor and trigger
uses (:mod:`asp_core.arguments`)."""

from __future__ import annotations

import pytest

from asp_core import arguments
from asp_core.errors import AspInputError


@pytest.mark.parametrize("value", [0, -1, 10_001, 1.5, True, "3", None])
def test_integers_are_checked_with_their_bounds(value):
    with pytest.raises(AspInputError, match="max_batch must be an integer of at least 1 and at"):
        arguments.integer(value, "max_batch", minimum=1, maximum=10_000)


@pytest.mark.parametrize(
    ("minimum", "value", "message"),
    [
        (1, 0, "limit must be a positive integer, not 0"),
        (0, -1, "limit must be a non-negative integer, not -1"),
        (5, 4, "limit must be an integer of at least 5, not 4"),
        (1, False, "limit must be a positive integer, not False"),
    ],
)
def test_an_integer_refused_says_what_it_must_be(minimum, value, message):
    with pytest.raises(AspInputError, match=message):
        arguments.integer(value, "limit", minimum=minimum)


def test_integers_within_bounds_and_none_when_allowed_pass():
    assert arguments.integer(10_000, "max_batch", maximum=10_000) == 10_000
    assert arguments.integer(0, "max_dlq_messages", minimum=0) == 0
    assert arguments.integer(None, "batch_size", allow_none=True) is None
    with pytest.raises(AspInputError, match="batch_size must be a positive integer, not None"):
        arguments.integer(None, "batch_size")


@pytest.mark.parametrize("value", [[], "", [""], [3], None, {"FAILED": 1}])
def test_bad_states_are_refused(value):
    with pytest.raises(AspInputError, match="states must be a state or a list of states"):
        arguments.states(value, "states")


def test_states_are_normalized_and_empty_only_when_allowed():
    assert arguments.states("running", "states") == frozenset({"STARTED"})
    assert arguments.states(("STOPPED", "failed", "ERROR"), "s") == frozenset({"STOPPED", "FAILED"})
    assert arguments.states([], "failure_states", allow_empty=True) == frozenset()
