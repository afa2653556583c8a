"""Faults on demand: command errors with labels, dropped connections, delays."""

from __future__ import annotations

import time
from typing import Any

import pytest
from asp_emulator import Workspace
from pymongo.errors import AutoReconnect, OperationFailure


@pytest.fixture
def ws(connect: Any) -> Any:
    """A private workspace, so armed faults never leak into other tests."""
    with Workspace() as workspace:
        yield workspace


def test_fail_a_command_n_times_with_code_and_labels(
    ws: Workspace, connect: Any, name: str
) -> None:
    db = connect(ws).admin
    db.command({"createStreamProcessor": name, "pipeline": []})
    ws.inject_fault("getStreamProcessor", times=2, code=6, error_labels=["RetryableError"])
    for _ in range(2):
        with pytest.raises(OperationFailure) as info:
            db.command({"getStreamProcessor": name})
        assert info.value.code == 6
        assert info.value.has_error_label("RetryableError")
        assert (info.value.details or {})["codeName"] == "HostUnreachable"
    assert db.command({"getStreamProcessor": name})["result"]["name"] == name


def test_fault_with_custom_message_only_hits_its_command(ws: Workspace, connect: Any) -> None:
    db = connect(ws).admin
    ws.inject_fault("listStreamProcessors", code=125, message="workspace is busy")
    assert db.command({"listWorkspaceDefaults": 1})["ok"] == 1.0
    with pytest.raises(OperationFailure, match="workspace is busy"):
        db.command({"listStreamProcessors": 1})
    assert db.command({"listStreamProcessors": 1})["ok"] == 1.0


def test_close_connection_on_a_command(ws: Workspace, connect: Any) -> None:
    db = connect(ws, retryReads=False).admin
    db.command("ping")
    ws.inject_fault("listWorkspaceDefaults", close_connection=True)
    with pytest.raises(AutoReconnect):
        db.command({"listWorkspaceDefaults": 1})
    assert db.command({"listWorkspaceDefaults": 1})["ok"] == 1.0  # a new connection works


def test_delay_a_reply(ws: Workspace, connect: Any) -> None:
    db = connect(ws).admin
    db.command("ping")
    ws.inject_fault("ping", delay=0.3)
    began = time.monotonic()
    db.command("ping")
    assert time.monotonic() - began >= 0.3


def test_always_and_clear(ws: Workspace, connect: Any) -> None:
    db = connect(ws).admin
    ws.inject_fault("listWorkspaceDefaults", times=-1, code=1)
    for _ in range(3):
        with pytest.raises(OperationFailure):
            db.command({"listWorkspaceDefaults": 1})
    ws.clear_faults()
    assert db.command({"listWorkspaceDefaults": 1})["ok"] == 1.0


def test_a_fault_needs_an_effect(ws: Workspace) -> None:
    with pytest.raises(ValueError, match="needs a code"):
        ws.inject_fault("ping")


def test_a_fault_after_the_effect_lets_the_command_run_then_strikes_its_reply(
    workspace: Workspace, name: str
) -> None:
    """``after_effect``: the processor is created although the client saw its reply lost."""
    from pymongo import MongoClient
    from pymongo.errors import NotPrimaryError

    create = {"createStreamProcessor": name, "pipeline": []}
    client: MongoClient[dict[str, Any]] = MongoClient(
        workspace.uri, retryWrites=False, serverSelectionTimeoutMS=5000
    )
    with client:
        workspace.inject_fault("createStreamProcessor", close_connection=True, after_effect=True)
        with pytest.raises(AutoReconnect):
            client.admin.command(create)
        assert workspace.processors()[name] == "CREATED"  # the effect happened
        workspace.inject_fault("dropStreamProcessor", code=91, after_effect=True)
        with pytest.raises(NotPrimaryError, match="injected fault"):
            client.admin.command({"dropStreamProcessor": name})
        assert name not in workspace.processors()
        workspace.inject_fault("createStreamProcessor", close_connection=True)  # before
        with pytest.raises(AutoReconnect):
            client.admin.command(create)
        assert name not in workspace.processors()  # never ran
