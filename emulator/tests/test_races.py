"""Commands on one processor are serialised: races end in a clean answer, never an internal
error, and no processor's work outlives its registry entry."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from asp_emulator import Workspace
from asp_emulator.commands import COMMANDS, Command
from asp_emulator.protocol import document
from pymongo import MongoClient
from pymongo.errors import OperationFailure

SOLAR = [{"$source": {"connectionName": "sample_stream_solar"}}]
ROUNDS = 40


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run ``calls`` in threads released together; each result or the exception raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait(timeout=10)
        try:
            results[index] = calls[index]()
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def outcome(result: Any) -> Any:
    """``"ok"`` or the server's error code."""
    if isinstance(result, OperationFailure):
        return result.code
    if isinstance(result, Exception):
        raise result
    return "ok" if result.get("ok") == 1.0 else result


@pytest.fixture
def clients(workspace: Workspace, connect: Any) -> tuple[Any, Any]:
    """Two clients: two connections, so their commands really run side by side."""
    return connect(workspace).admin, connect(workspace).admin


def test_two_drops_of_one_running_processor(
    workspace: Workspace, clients: tuple[Any, Any], name: str
) -> None:
    first, second = clients
    for round_ in range(ROUNDS):
        processor = f"{name}-{round_}"
        first.command({"createStreamProcessor": processor, "pipeline": SOLAR})
        first.command({"startStreamProcessor": processor})
        drop = {"dropStreamProcessor": processor}
        results = at_once(partial(first.command, drop), partial(second.command, drop))
        assert sorted(map(outcome, results), key=str) == [415, "ok"], results
    assert not [p for p in workspace.processors() if p.startswith(name)]
    assert workspace.self_check() == []


def test_start_stop_drop_racing_on_one_processor(
    workspace: Workspace, clients: tuple[Any, Any], name: str
) -> None:
    first, second = clients
    allowed = {"ok", 125, 415, 416}  # each command either applies or is refused cleanly
    for round_ in range(ROUNDS):
        processor = f"{name}-{round_}"
        first.command({"createStreamProcessor": processor, "pipeline": SOLAR})
        commands = [
            {"startStreamProcessor": processor},
            {"stopStreamProcessor": processor},
            {"dropStreamProcessor": processor},
            {"startSampleStreamProcessor": processor},
        ]
        results = at_once(
            *(partial((first, second)[i % 2].command, c) for i, c in enumerate(commands))
        )
        assert {outcome(r) for r in results} <= allowed, results
        assert workspace.self_check() == []
        if processor in workspace.processors():
            first.command({"dropStreamProcessor": processor})
    assert workspace.self_check() == []


def test_an_internal_error_fails_the_test_unless_taken(
    workspace: Workspace, admin: Any, monkeypatch: pytest.MonkeyPatch, internal_errors: Any
) -> None:
    """The suite's guard: a command handler that raises is an internal error (code 1), and
    the conftest hook would fail this test had it not taken the logged error."""

    def broken(dispatcher: Any, session: Any, command: Any) -> dict[str, Any]:
        raise RuntimeError("a bug")

    table = {**COMMANDS, "buildInfo": Command(document, broken, auth=False)}
    monkeypatch.setattr(workspace._dispatcher, "commands", table)
    with pytest.raises(OperationFailure) as info:
        admin.command("buildInfo")
    assert info.value.code == 1
    assert internal_errors.take() == ["internal error in command buildInfo: RuntimeError('a bug')"]


def test_many_clients_each_with_its_processors(workspace: Workspace, name: str) -> None:
    def lifecycle(index: int) -> str:
        processor = f"{name}-{index}"
        with MongoClient[dict[str, Any]](workspace.uri) as client:
            db = client.admin
            db.command({"createStreamProcessor": processor, "pipeline": SOLAR})
            db.command({"startStreamProcessor": processor})
            db.command({"stopStreamProcessor": processor})
            state = db.command({"getStreamProcessor": processor})["result"]["state"]
            db.command({"dropStreamProcessor": processor})
            return str(state)

    assert at_once(*(partial(lifecycle, i) for i in range(8))) == ["STOPPED"] * 8
    assert workspace.self_check() == []
