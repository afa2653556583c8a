"""A refused definition in a user's words (asp_core.refusals): the stage counted from 1, its
operator, the closest known stage, the server's words."""

from __future__ import annotations

import pytest
from pymongo.errors import OperationFailure

from asp_core.errors import AspDefinitionRefusedError, is_unretryable
from asp_core.refusals import KNOWN_STAGES, closest_stage, refusal_error

PIPELINE = [{"$source": {"documents": []}}, {"$matchh": {}}, {"$emit": {"connectionName": "x"}}]


def refused(message: str, code: int = 9) -> OperationFailure:
    name = {9: "FailedToParse", 72: "InvalidOptions"}.get(code, "CommandFailed")
    return OperationFailure(
        message, code, {"ok": 0, "errmsg": message, "code": code, "codeName": name}
    )


def test_unknown_stage_is_counted_from_one_with_a_suggestion() -> None:
    error = refusal_error("orders", refused("stage 1: unknown stage '$matchh'"), PIPELINE)
    assert isinstance(error, AspDefinitionRefusedError)
    assert is_unretryable(error)
    assert (error.processor_name, error.stage, error.operator) == ("orders", 2, "$matchh")
    assert error.suggestion == "$match"
    text = str(error)
    assert "'orders'" in text
    assert "stage 2 of 3" in text
    assert "did you mean `$match`?" in text
    assert "stage 1: unknown stage '$matchh'" in text  # the server's words, kept
    assert "FailedToParse" in text


def test_a_known_stage_refused_gets_no_suggestion() -> None:
    pipeline = [{"$source": {}}, {"$match": {"$foo": 1}}]
    error = refusal_error("p", refused("stage 1: unknown top level operator: $foo"), pipeline)
    assert error is not None
    assert error.stage == 2
    assert error.operator == "$match"
    assert error.suggestion is None
    assert "did you mean" not in str(error)


def test_without_an_index_the_first_unknown_operator_is_named() -> None:
    error = refusal_error("p", refused("Unrecognized pipeline stage name: '$matchh'"), PIPELINE)
    assert error is not None
    assert (error.stage, error.suggestion) == (2, "$match")
    assert "counts stages from 0" not in str(error)


def test_a_refusal_of_options_names_no_stage() -> None:
    error = refusal_error("p", refused("dlq: unknown connection 'nope'", code=72), None)
    assert error is not None
    assert error.stage is None
    assert "refused its definition" in str(error)
    assert "unknown connection 'nope'" in str(error)


@pytest.mark.parametrize("exc", [refused("not running", code=125), ValueError("stage 1")])
def test_other_errors_are_not_refusals(exc: BaseException) -> None:
    assert refusal_error("p", exc, PIPELINE) is None


def test_no_suggestion_when_nothing_is_close() -> None:
    assert closest_stage("$zzzzzz") is None
    assert closest_stage("$match") is None
    assert closest_stage("$tumblingwindow") == "$tumblingWindow"


def test_every_stage_the_emulator_knows_is_known() -> None:
    from asp_emulator.engine import compile as emulated
    from asp_emulator.engine.windows import INNER_STAGES

    names = (
        emulated.DOCUMENT_STAGES
        | emulated.WINDOW_ONLY_STAGES
        | emulated.UNSUPPORTED_STAGES
        | emulated.SINK_STAGES
        | emulated.WINDOW_STAGES
        | INNER_STAGES
        | {"$source"}
    )
    assert names <= KNOWN_STAGES
