"""Plans: the steps from what the workspace holds to what an operator was asked for."""

from __future__ import annotations

import pytest

from asp_core.errors import AspDefinitionConflictError
from asp_core.plans.plan import (
    IF_EXISTS_POLICIES,
    STEP_TARGETS,
    Plan,
    ProcessorDefinition,
    Step,
    create_plan,
    deploy_plan,
    drop_plan,
    modify_plan,
    same_document,
    start_plan,
    stop_plan,
)
from asp_core.stream_processing import StreamProcessorInfo


def pipeline(*documents):
    """Inline documents to ``__testLog``."""
    return [{"$source": {"documents": list(documents)}}, {"$emit": {"connectionName": "__testLog"}}]


DLQ = {"connectionName": "dlq", "db": "d", "coll": "c"}


def info(state, **fields):
    document = {"name": "p", "state": state, "pipeline": pipeline({"a": 1}), "tier": "SP10"}
    return StreamProcessorInfo.from_response({**document, **fields})


SAME = ProcessorDefinition(pipeline({"a": 1}))
OTHER = ProcessorDefinition(pipeline({"b": 1}))


# -- comparing definitions -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        ({"a": 1, "b": 2}, {"a": 1, "b": 2}, True),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}, False),
        ([{"$sort": {"x": 1, "y": -1}}], [{"$sort": {"x": 1, "y": -1}}], True),
        ([{"$sort": {"x": 1, "y": -1}}], [{"$sort": {"y": -1, "x": 1}}], False),
        ({"$project": {"a": {"b": 1, "c": 1}}}, {"$project": {"a": {"c": 1, "b": 1}}}, False),
        ([1, 2], [2, 1], False),
        ([1, 2], [1, 2, 3], False),
        ([1, 2], (1, 2), True),
        ([], [], True),
        ({"a": [1]}, {"a": "1"}, False),
        ({"a": "ab"}, {"a": ["a", "b"]}, False),
        ({"a": 1}, {"a": 2}, False),
        ({"a": 1}, {"a": 1, "b": 1}, False),
        ({"a": None}, {"a": None}, True),
        ({"a": {}}, {"a": []}, False),
        ("x", "x", True),
    ],
)
def test_same_document(left, right, same):
    assert same_document(left, right) is same
    assert same_document(right, left) is same


def test_differences():
    current = info("STOPPED", dlq=DLQ)
    assert SAME.differences(current) == []
    assert OTHER.differences(current) == ["pipeline"]
    # None leaves a field alone
    assert ProcessorDefinition(None, tier="SP30").differences(current) == ["tier"]
    assert ProcessorDefinition(None).differences(current) == []
    assert ProcessorDefinition(pipeline({"a": 1}), dlq=DLQ, tier="SP10").differences(current) == []
    assert ProcessorDefinition(pipeline({"b": 1}), dlq={}, tier="SP30").differences(current) == [
        "pipeline",
        "dlq",
        "tier",
    ]
    # dlq={} means "no dead letter queue"
    assert ProcessorDefinition(None, dlq={}).differences(info("STOPPED")) == []
    assert ProcessorDefinition(None, dlq={}).differences(current) == ["dlq"]
    assert ProcessorDefinition(None, dlq=DLQ).differences(info("STOPPED")) == ["dlq"]


def test_pipeline_key_order_is_a_difference():
    current = info("STARTED", pipeline=[{"$project": {"a": 1, "b": 1}}])
    assert ProcessorDefinition([{"$project": {"a": 1, "b": 1}}]).differences(current) == []
    assert ProcessorDefinition([{"$project": {"b": 1, "a": 1}}]).differences(current) == [
        "pipeline"
    ]


def test_changes():
    definition = ProcessorDefinition(pipeline({"b": 1}), dlq={}, tier="SP30")
    assert definition.changes(["pipeline", "tier"]) == {
        "pipeline": pipeline({"b": 1}),
        "tier": "SP30",
    }
    assert definition.changes(["dlq"]) == {"dlq": {}}
    assert definition.changes([]) == {}


# -- deploy --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "definition", "desired", "steps"),
    [
        (None, SAME, "STARTED", ["create", "start"]),
        (None, SAME, "STOPPED", ["create"]),
        ("STARTED", SAME, "STARTED", []),
        ("RUNNING", SAME, "STARTED", []),
        ("CREATED", SAME, "STOPPED", []),
        ("STOPPED", SAME, "STOPPED", []),
        ("CREATED", SAME, "STARTED", ["start"]),
        ("STOPPED", SAME, "STARTED", ["start"]),
        ("FAILED", SAME, "STARTED", ["start"]),
        ("STARTED", SAME, "STOPPED", ["stop"]),
        ("RUNNING", SAME, "STOPPED", ["stop"]),
        ("FAILED", SAME, "STOPPED", []),
        ("STARTED", OTHER, "STARTED", ["stop", "modify", "start"]),
        ("STARTED", OTHER, "STOPPED", ["stop", "modify"]),
        ("STOPPED", OTHER, "STARTED", ["modify", "start"]),
        ("FAILED", OTHER, "STARTED", ["modify", "start"]),
        ("STOPPED", ProcessorDefinition(pipeline({"a": 1}), tier="SP30"), "STOPPED", ["modify"]),
        ("STOPPED", ProcessorDefinition(pipeline({"a": 1}), dlq={}), "STOPPED", []),
    ],
)
def test_deploy_plans(state, definition, desired, steps):
    current = None if state is None else info(state)
    plan = deploy_plan(current, definition, desired)
    assert plan.step_names == steps
    assert all(isinstance(step, Step) for step in plan.steps)
    if "modify" in steps:
        assert plan.differences == tuple(definition.differences(current))
        assert plan.differences


# -- create --------------------------------------------------------------------------------
@pytest.mark.parametrize("if_exists", IF_EXISTS_POLICIES)
def test_create_plan_of_an_absent_processor(if_exists):
    assert create_plan("p", None, OTHER, if_exists).step_names == ["create"]


@pytest.mark.parametrize("if_exists", IF_EXISTS_POLICIES)
@pytest.mark.parametrize("state", ["STARTED", "STOPPED", "CREATED", "FAILED"])
def test_create_plan_of_an_identical_processor_is_empty(if_exists, state):
    """A retry after a lost reply finds what it created: nothing to do, even for 'error'."""
    plan = create_plan("p", info(state), SAME, if_exists)
    assert plan == Plan(())


def test_create_plan_error_names_the_differing_fields():
    definition = ProcessorDefinition(pipeline({"b": 1}), tier="SP30")
    with pytest.raises(AspDefinitionConflictError) as caught:
        create_plan("p", info("STARTED"), definition, "error")
    message = str(caught.value)
    assert message.startswith("Stream processor 'p' exists with a different pipeline, tier;")
    assert "if_exists" in message


@pytest.mark.parametrize("state", ["STARTED", "STOPPED"])
def test_create_plan_skip(state):
    plan = create_plan("p", info(state), OTHER, "skip")
    assert plan.steps == ()
    assert plan.differences == ("pipeline",)


@pytest.mark.parametrize(
    ("state", "steps"),
    [
        ("STARTED", ["stop", "drop", "create"]),
        ("RUNNING", ["stop", "drop", "create"]),
        ("STOPPED", ["drop", "create"]),
        ("CREATED", ["drop", "create"]),
        ("FAILED", ["drop", "create"]),
    ],
)
def test_create_plan_replace(state, steps):
    plan = create_plan("p", info(state), OTHER, "replace")
    assert plan.step_names == steps
    assert plan.differences == ("pipeline",)


@pytest.mark.parametrize(
    ("state", "steps"),
    [
        ("STARTED", ["stop", "modify", "start"]),
        ("RUNNING", ["stop", "modify", "start"]),
        ("STOPPED", ["modify"]),
        ("CREATED", ["modify"]),
        ("FAILED", ["modify"]),
    ],
)
def test_create_plan_modify(state, steps):
    definition = ProcessorDefinition(pipeline({"b": 1}), dlq=DLQ)
    plan = create_plan("p", info(state), definition, "modify")
    assert plan.step_names == steps
    assert plan.differences == ("pipeline", "dlq")


# -- the other actions ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "changes", "restart", "steps"),
    [
        ("STARTED", True, True, ["stop", "modify", "start"]),
        ("RUNNING", True, True, ["stop", "modify", "start"]),
        ("STARTED", True, False, ["stop", "modify"]),
        ("STOPPED", True, True, ["modify"]),
        ("STOPPED", True, False, ["modify"]),
        ("FAILED", True, True, ["modify"]),
        ("STARTED", False, True, []),
        ("STOPPED", False, False, []),
    ],
)
def test_modify_plan(state, changes, restart, steps):
    plan = modify_plan(info(state), ["tier"], changes=changes, restart=restart)
    assert plan.step_names == steps
    assert plan.differences == ("tier",)


@pytest.mark.parametrize(
    ("state", "start", "stop"),
    [
        ("STARTED", [], ["stop"]),
        ("RUNNING", [], ["stop"]),
        ("STOPPED", ["start"], []),
        ("CREATED", ["start"], []),
        ("FAILED", ["start"], []),
        ("SOME_NEW_STATE", ["start"], []),
    ],
)
def test_start_and_stop_plans(state, start, stop):
    assert start_plan(info(state)).step_names == start
    assert stop_plan(info(state)).step_names == stop


@pytest.mark.parametrize("state", ["STARTED", "STOPPED", "FAILED"])
def test_drop_plan(state):
    assert drop_plan(info(state)).step_names == ["drop"]
    assert drop_plan(None).step_names == []


def test_step_targets():
    assert {step: STEP_TARGETS[step] for step in Step} == {
        Step.CREATE: None,
        Step.STOP: "STOPPED",
        Step.DROP: None,
        Step.MODIFY: None,
        Step.START: "STARTED",
    }


def test_describe():
    assert (
        Plan(()).describe("p", info("STARTED")) == "Stream processor 'p' is STARTED: nothing to do."
    )
    assert Plan(()).describe("p", None) == "Stream processor 'p' is absent: nothing to do."
    plan = Plan((Step.STOP, Step.MODIFY, Step.START), ("pipeline", "tier"))
    assert plan.describe("p", info("STARTED")) == (
        "Plan for stream processor 'p' (different pipeline, tier): stop, modify, start."
    )
    assert Plan((Step.CREATE, Step.START)).describe("p", None) == (
        "Plan for stream processor 'p': create, start."
    )
    # a skip with differences still has nothing to do
    assert Plan((), ("pipeline",)).describe("p", info("STOPPED")) == (
        "Stream processor 'p' is STOPPED: nothing to do."
    )
