"""Unit tests of the declarative deploy decisions (pure code)."""

from __future__ import annotations

import pytest

from asp_core.admin.deploy import (
    judge_connection,
    plan_connection,
    plan_workspace,
    secret_paths,
    with_secrets,
)
from asp_core.errors import AspInputError, is_unretryable

KAFKA = {
    "type": "Kafka",
    "bootstrapServers": "broker:9092",
    "authentication": {"mechanism": "PLAIN", "username": "u"},
    "security": {"protocol": "SASL_SSL"},
}
SECRETS = {"authentication.password": "s3cr3t-value"}


def served(definition: dict, name: str = "k", state: str = "READY") -> dict:
    """The document Atlas returns for ``definition``: no secrets, server fields added."""
    doc = {"name": name, **definition, "state": state, "_id": "x"}
    for path in secret_paths(doc):
        node = doc
        *parents, leaf = path.split(".")
        for key in parents:
            node = node[key]
        del node[leaf]
    return doc


def test_absent_connection_is_created_with_its_secrets() -> None:
    plan = plan_connection(None, "k", KAFKA, SECRETS)
    assert plan.action == "create"
    assert plan.body["name"] == "k"
    assert plan.body["authentication"] == {
        "mechanism": "PLAIN",
        "username": "u",
        "password": "s3cr3t-value",
    }
    assert "s3cr3t" not in repr(plan)
    assert KAFKA["authentication"] == {"mechanism": "PLAIN", "username": "u"}  # not mutated


def test_unchanged_connection_without_secrets_sends_nothing() -> None:
    plan = plan_connection(served(KAFKA), "k", KAFKA)
    assert (plan.action, plan.writes, plan.body) == ("none", False, {})


def test_secrets_are_resent_unless_asked_not_to() -> None:
    assert plan_connection(served(KAFKA), "k", KAFKA, SECRETS).action == "update"
    quiet = plan_connection(served(KAFKA), "k", KAFKA, SECRETS, update_secrets=False)
    assert quiet.action == "none"


def test_a_changed_field_is_an_update_naming_the_path_not_the_value() -> None:
    desired = {**KAFKA, "bootstrapServers": "other:9092"}
    plan = plan_connection(served(KAFKA), "k", desired, SECRETS, update_secrets=False)
    assert plan.action == "update"
    assert plan.changed == ("bootstrapServers",)
    assert plan.body["authentication"]["password"] == "s3cr3t-value"
    assert "other:9092" not in plan.reason


@pytest.mark.parametrize(
    "change",
    [{"type": "Https", "url": "https://x"}, {"networking": {"access": {"type": "VPC"}}}],
)
def test_type_or_networking_changes_need_a_replacement(change: dict) -> None:
    current = served({**KAFKA, "networking": {"access": {"type": "PUBLIC"}}})
    plan = plan_connection(current, "k", {**KAFKA, **change})
    assert plan.action == "replace"
    assert "cannot change in place" in plan.reason


@pytest.mark.parametrize(
    ("definition", "words"),
    [
        ({**KAFKA, "authentication": {"password": "p"}}, "authentication.password"),
        ({"type": "Https", "headers": [{"clientSecret": "z"}]}, "headers.0.clientSecret"),
        ({"url": "https://x"}, "needs a 'type'"),
        ({"type": "Sample", "name": "other"}, "names 'other'"),
        ({"type": "Sample", "state": "READY"}, "state are set by Atlas"),
    ],
)
def test_bad_definitions_are_refused_before_anything_is_sent(definition: dict, words: str) -> None:
    with pytest.raises(AspInputError, match=words) as caught:
        plan_connection(None, "k", definition)
    assert is_unretryable(caught.value)
    assert "'p'" not in str(caught.value)
    assert "'z'" not in str(caught.value)


def test_with_secrets_builds_missing_objects_and_rejects_empty_paths() -> None:
    assert with_secrets({"type": "X"}, {"a.b.c": 1}) == {"type": "X", "a": {"b": {"c": 1}}}
    with pytest.raises(AspInputError, match="dotted field path"):
        with_secrets({}, {"a..b": 1})


def test_workspace_plans() -> None:
    assert plan_workspace(None, "w", tier="SP10").body == {
        "name": "w",
        "dataProcessRegion": {"cloudProvider": "AWS", "region": "VIRGINIA_USA"},
        "streamConfig": {"tier": "SP10"},
    }
    doc = {
        "name": "w",
        "dataProcessRegion": {"cloudProvider": "AWS", "region": "VIRGINIA_USA"},
        "streamConfig": {"tier": "SP10", "maxTierSize": "SP30"},
        "hostnames": ["h"],
    }
    assert plan_workspace(doc, "w", tier="SP10").action == "none"
    assert plan_workspace(doc, "w").action == "none"  # an unnamed tier is left alone
    bigger = plan_workspace(doc, "w", tier="SP30")
    assert (bigger.action, bigger.body, bigger.changed) == (
        "update",
        {"streamConfig": {"tier": "SP30"}},
        ("streamConfig.tier",),
    )
    moved = plan_workspace(doc, "w", region="DUBLIN_IRL")
    assert moved.body == {"cloudProvider": "AWS", "region": "DUBLIN_IRL"}


def test_connection_verdicts() -> None:
    assert judge_connection(None).gone
    assert judge_connection({"name": "k"}).ready
    assert not judge_connection({"state": "PENDING"}).settled
    failed = judge_connection({"state": "FAILED", "errorMessage": "SASL refused"})
    assert (failed.failed, failed.message) == (True, "SASL refused")
    assert "without a message" in judge_connection({"state": "FAILED"}).message
