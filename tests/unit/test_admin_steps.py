"""Unit tests of the steps of a deploy (pure code): what a resumed leg reports, what a
deferred task carries, a READY or FAILED document judged without a request."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest

from asp_core.admin.apply import synchronous as apply
from asp_core.admin.errors import AdminConnectionFailedError
from asp_core.admin.steps import Step, check_if_differs
from asp_core.errors import AspInputError, is_unretryable


def test_a_replace_stays_a_replace_after_its_gone_wait() -> None:
    replace = Step("w", "c", "replace", "type cannot change in place", ("type",), again=True)
    create = Step("w", "c", "create", "absent", awaits="ready", awaited="c")
    resumed = Step.from_resume("w", "c", json.loads(json.dumps(replace.resume())))
    assert create.after(resumed) == Step(
        "w", "c", "replace", "type cannot change in place", ("type",), awaits="ready", awaited="c"
    )
    deleting = Step("w", "c", "create", "being deleted", again=True)
    assert create.after(deleting) == create  # what the second leg did
    assert create.after(None) == create


def test_what_a_deferred_task_carries_is_names_only() -> None:
    secret = "s3cr3t-in-a-body"
    doc = {"name": "c", "authentication": {"password": secret}}
    step = Step("w", "c", "update", "secrets are write-only", doc=doc, first=doc)
    assert secret not in json.dumps(step.resume())
    assert secret not in repr(step)


def test_notes_and_states() -> None:
    step = Step("w", "c", "create", "absent", doc={"state": "PENDING"})
    assert step.note == "Connection 'c' of workspace 'w': create (absent)."
    assert step.state == "PENDING"
    workspace = Step("w", None, "none", "unchanged", doc={"name": "w"})
    assert workspace.note == "Workspace 'w': none (unchanged)."
    assert workspace.state is None
    assert Step("w", "c", "delete", "deleting").deleted


def test_a_document_already_read_decides_a_ready_wait_without_a_request() -> None:
    no_client = cast(Any, None)  # nothing may be sent
    ready = Step("w", "c", "create", "", awaits="ready", awaited="c", first={"state": "READY"})
    assert apply.awaited(no_client, ready, 0.0, 1.0).awaits is None
    failed = Step(
        "w",
        "c",
        "update",
        "",
        awaits="ready",
        awaited="c",
        first={"state": "FAILED", "errorMessage": "broker unreachable"},
    )
    with pytest.raises(AdminConnectionFailedError) as raised:
        apply.awaited(no_client, failed, 0.0, 1.0)
    assert str(raised.value) == "connection 'c' of workspace 'w' is FAILED: broker unreachable"
    assert is_unretryable(raised.value)


def test_if_differs_is_checked() -> None:
    assert check_if_differs("skip") == "skip"
    with pytest.raises(AspInputError, match="if_differs must be one of update, skip, error"):
        check_if_differs("replace")
