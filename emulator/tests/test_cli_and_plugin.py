"""The ``asp-emulator serve`` command line and the opt-in pytest plugin."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from typing import Any

import pytest
from asp_emulator.cli import parse_user
from pymongo import MongoClient

pytest_plugins = ["pytester"]


def test_serve_prints_where_it_listens_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "asp_emulator",
            "serve",
            "--user",
            "ops:s3cret-pass:atlasAdmin",
            "--connection",
            "kafka1",
            "--reply-shape",
            "spec",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        assert ready["host"] == "127.0.0.1"
        assert {"uri", "port", "ca_file", "username"} <= set(ready)
        with MongoClient[dict[str, Any]](ready["uri"], serverSelectionTimeoutMS=5000) as client:
            names = [
                c["name"] for c in client.admin.command({"listStreamConnections": 1})["connections"]
            ]
            assert "kafka1" in names
            client.admin.command({"createStreamProcessor": "p", "pipeline": []})
            assert "result" not in client.admin.command({"getStreamProcessor": "p"})  # spec shape
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a:b", ("a", "b")),
        ("a:b:atlasAdmin,readAnyDatabase", ("a", ("b", ["atlasAdmin", "readAnyDatabase"]))),
        ("a:p:w:atlasAdmin", ("a", ("p:w", ["atlasAdmin"]))),
    ],
)
def test_parse_user(text: str, expected: Any) -> None:
    assert parse_user(text) == expected


@pytest.mark.parametrize("text", ["nobody", ":pw", "a:"])
def test_parse_user_refuses(text: str) -> None:
    import argparse

    with pytest.raises(argparse.ArgumentTypeError):
        parse_user(text)


def test_pytest_plugin_fixture(pytester: pytest.Pytester) -> None:
    """The fixtures come from the ``pytest11`` entry point: the user's files name no plugin."""
    pytester.makepyfile(
        """
        from pymongo import MongoClient

        def test_uses_workspace(asp_workspace):
            with MongoClient(asp_workspace.uri) as client:
                client.admin.command({"createStreamProcessor": "p", "pipeline": []})
            assert asp_workspace.processors() == {"p": "CREATED"}

        def test_factory_makes_spec_workspaces(asp_workspace_factory):
            ws = asp_workspace_factory(reply_shape="spec")
            assert ws.reply_shape == "spec" and ws.running
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
