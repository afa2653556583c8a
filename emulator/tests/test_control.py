"""The emulator's own control command, ``aspEmulatorFailProcessor``, and ``asp-emulator fail``:
as authenticated as the ASP commands, never one of them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from asp_emulator import Workspace
from asp_emulator.commands import ASP_COMMANDS, COMMANDS, EMULATOR_COMMANDS
from asp_emulator.control import FAIL_PROCESSOR, PREFIX
from pymongo import MongoClient
from pymongo.errors import OperationFailure

PIPELINE = [
    {"$source": {"connectionName": "sample_stream_solar"}},
    {"$emit": {"connectionName": "__testLog"}},
]


def started(admin: Any, name: str) -> None:
    admin.command({"createStreamProcessor": name, "pipeline": PIPELINE})
    admin.command({"startStreamProcessor": name})


def code_of(admin: Any, command: dict[str, Any]) -> int:
    with pytest.raises(OperationFailure) as info:
        admin.command(command)
    return int(info.value.code or 0)


def test_the_command_is_the_emulators_own() -> None:
    assert {FAIL_PROCESSOR} == EMULATOR_COMMANDS
    assert all(name.startswith(PREFIX) for name in EMULATOR_COMMANDS)
    assert not EMULATOR_COMMANDS & ASP_COMMANDS
    assert COMMANDS[FAIL_PROCESSOR].auth


def test_it_fails_a_running_processor(workspace: Workspace, admin: Any, name: str) -> None:
    started(admin, name)
    reply = admin.command(
        {FAIL_PROCESSOR: name, "message": "sink unreachable", "code": 4242, "retryable": True}
    )
    assert (reply["name"], reply["state"]) == (name, "FAILED")
    info = workspace.processor(name)
    assert (info["errorMsg"], info["errorCode"], info["errorRetryable"]) == (
        "sink unreachable",
        4242,
        True,
    )


def test_it_is_refused_as_an_asp_command_is(
    workspace: Workspace, connect: Callable[..., MongoClient[dict[str, Any]]], name: str
) -> None:
    admin = connect(workspace).admin
    started(admin, name)
    command = {FAIL_PROCESSOR: name, "message": "boom"}
    anonymous = connect(
        workspace,
        f"mongodb://{workspace.host}:{workspace.port}/?tls=true",
        tlsCAFile=workspace.ca_file,
    )
    assert code_of(anonymous.admin, command) == 13
    reader = connect(workspace, workspace.uri_for("reader", "reader-password"))
    assert code_of(reader.admin, command) == 13  # no atlasAdmin
    assert code_of(connect(workspace).get_database("other"), command) == 73
    assert code_of(admin, {FAIL_PROCESSOR: "nobody", "message": "boom"}) == 415
    assert code_of(admin, {FAIL_PROCESSOR: name, "message": " "}) == 9
    assert code_of(admin, {FAIL_PROCESSOR: name, "message": "m", "code": "7"}) == 9
    assert workspace.processors()[name] == "STARTED"
    admin.command({"stopStreamProcessor": name})
    assert code_of(admin, command) == 125  # not STARTED


def fail_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asp_emulator", "fail", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def bare_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("ASP_")}


def test_the_cli_reads_the_served_variables(workspace: Workspace, admin: Any, name: str) -> None:
    started(admin, name)
    env = {
        **bare_env(),
        "ASP_HOST": workspace.host,
        "ASP_PORT": str(workspace.port),
        "ASP_USERNAME": workspace.username,
        "ASP_PASSWORD": workspace.password,
        "ASP_TLS_CA_FILE": workspace.ca_file,
    }
    done = fail_cli(name, "--message", "Kafka partition 3 unreachable", "--code", "419", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"Stream processor {name!r} fails now: Kafka partition 3 unreachable "
        "(errorCode 419, not retryable); its state: FAILED."
    )
    assert workspace.processor(name)["errorCode"] == 419
    assert workspace.password not in done.stdout + done.stderr


def test_the_cli_takes_a_uri_and_says_why_it_failed(
    workspace: Workspace, admin: Any, name: str
) -> None:
    started(admin, name)
    done = fail_cli(name, "--message", "m", "--retryable", "--uri", workspace.uri, env=bare_env())
    assert done.returncode == 0, done.stderr
    assert workspace.processor(name)["errorRetryable"] is True
    again = fail_cli(name, "--message", "m", "--uri", workspace.uri, env=bare_env())
    assert again.returncode == 1
    assert "is FAILED, not STARTED (code 125)" in again.stderr
    wrong = workspace.uri_for(workspace.username, "wrong-password")
    refused = fail_cli(name, "--message", "m", "--uri", wrong, env=bare_env())
    assert refused.returncode == 1
    assert "Authentication failed" in refused.stderr
    usage = fail_cli(name, "--message", "m", env=bare_env())
    assert usage.returncode == 2
    assert "ASP_HOST" in usage.stderr
    bad_port = {**bare_env(), "ASP_HOST": "127.0.0.1", "ASP_USERNAME": "u", "ASP_PASSWORD": "p"}
    usage = fail_cli(name, "--message", "m", env={**bad_port, "ASP_PORT": "port"})
    assert usage.returncode == 2
    assert "ASP_PORT (a number)" in usage.stderr
