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


def test_serve_with_x509_users_a_transition_delay_and_limits() -> None:
    subject = "CN=etl,OU=pipelines,O=acme"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "asp_emulator",
            "serve",
            "--x509-user",
            subject,
            "--transition-delay",
            "30",
            "--max-connections",
            "50",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        certificate = ready["client_certificates"][subject]
        uri = ready["uri"].split("@", 1)[1].split("&authSource")[0]
        uri = (
            f"mongodb://{uri}&tlsCertificateKeyFile={certificate}"
            "&authMechanism=MONGODB-X509&authSource=%24external"
        )
        with MongoClient[dict[str, Any]](uri, serverSelectionTimeoutMS=5000) as client:
            client.admin.command({"createStreamProcessor": "p", "pipeline": []})
            client.admin.command({"startStreamProcessor": "p"})
            stats = client.admin.command({"getStreamProcessorStats": "p"})
            assert (stats["state"], stats["stats"]["status"]) == ("CREATED", "starting")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_every_limit_has_a_flag() -> None:
    import dataclasses

    from asp_emulator import Limits
    from asp_emulator.cli import build_parser, limits_from

    args = build_parser().parse_args(["serve", "--max-connections", "7", "--auth-timeout", "1.5"])
    limits = limits_from(args)
    assert (limits.max_connections, limits.auth_timeout) == (7, 1.5)
    assert dataclasses.replace(limits, max_connections=1_000, auth_timeout=30.0) == Limits()


def test_bad_limits_and_subjects_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    from asp_emulator.cli import main

    assert main(["serve", "--max-connections", "0"]) == 2
    assert "Limits.max_connections must be a positive integer" in capsys.readouterr().err
    assert main(["serve", "--x509-user", "not a subject"]) == 2
    assert "not an RFC 2253 subject" in capsys.readouterr().err


#: Quotes, a dollar, a space and a backslash: the lines must survive a shell as they are.
AWKWARD_PASSWORD = 'it\'s "$HOME" \\ `x`'


def test_serve_prints_the_lines_a_user_pastes(tmp_path: Any) -> None:
    env_file = tmp_path / "asp-emulator.env"
    user = f"o'ps:{AWKWARD_PASSWORD}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "asp_emulator",
            "serve",
            "--user",
            user,
            "--env-file",
            str(env_file),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        assert process.stdout.readline().startswith("# ")
        lines = [process.stdout.readline().rstrip("\n") for _ in range(2)]
        assert lines[0].startswith("export AIRFLOW_CONN_ASP_DEFAULT='")
        assert lines[1].startswith("export ASP_HOST=127.0.0.1 ASP_PORT=")
        assert env_file.read_text().splitlines() == lines
        assert env_file.stat().st_mode & 0o777 == 0o600
        names = ["AIRFLOW_CONN_ASP_DEFAULT", "ASP_HOST", "ASP_PORT", "ASP_USERNAME"]
        names += ["ASP_PASSWORD", "ASP_TLS_CA_FILE"]
        script = "\n".join([*lines, *(f'printf "%s\\0" "${name}"' for name in names)])
        shell = subprocess.run(
            ["bash", "-c", script], capture_output=True, text=True, check=True, timeout=30
        )
        values = dict(zip(names, shell.stdout.split("\0"), strict=False))
        assert json.loads(values.pop("AIRFLOW_CONN_ASP_DEFAULT")) == {
            "conn_type": "asp",
            "host": "127.0.0.1",
            "port": ready["port"],
            "login": "o'ps",
            "password": AWKWARD_PASSWORD,
            "extra": {"tls_ca_file": ready["ca_file"]},
        }
        assert values == {
            "ASP_HOST": "127.0.0.1",
            "ASP_PORT": str(ready["port"]),
            "ASP_USERNAME": "o'ps",
            "ASP_PASSWORD": AWKWARD_PASSWORD,
            "ASP_TLS_CA_FILE": ready["ca_file"],
        }
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        assert not env_file.exists()  # its CA file is gone too
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_with_the_admin_api_prints_its_connection_and_variables() -> None:
    import httpx

    process = subprocess.Popen(
        [sys.executable, "-m", "asp_emulator", "serve", "--admin-api"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        assert ready["admin_url"].startswith("https://127.0.0.1:")
        assert "asp_admin_default" in process.stdout.readline()
        lines = [process.stdout.readline().rstrip("\n") for _ in range(4)]
        assert lines[2].startswith("export AIRFLOW_CONN_ASP_ADMIN_DEFAULT='")
        names = ["AIRFLOW_CONN_ASP_ADMIN_DEFAULT", "ASP_ADMIN_URL", "ASP_ADMIN_PROJECT_ID"]
        names += ["ASP_ADMIN_CLIENT_ID", "ASP_ADMIN_CLIENT_SECRET", "ASP_WORKSPACE_NAME"]
        script = "\n".join([*lines, *(f'printf "%s\\0" "${name}"' for name in names)])
        shell = subprocess.run(
            ["bash", "-c", script], capture_output=True, text=True, check=True, timeout=30
        )
        values = dict(zip(names, shell.stdout.split("\0"), strict=False))
        connection = json.loads(values["AIRFLOW_CONN_ASP_ADMIN_DEFAULT"])
        assert connection["conn_type"] == "asp_admin"
        assert connection["extra"]["base_url"] == values["ASP_ADMIN_URL"] == ready["admin_url"]
        assert values["ASP_ADMIN_PROJECT_ID"] == ready["project_id"]
        assert values["ASP_WORKSPACE_NAME"] == ready["workspace_name"]
        # the printed service account is a real one: it gets a token and lists the workspace
        with httpx.Client(base_url=ready["admin_url"], verify=ready["ca_file"]) as http:
            token = http.post(
                "/api/oauth/token",
                auth=(values["ASP_ADMIN_CLIENT_ID"], values["ASP_ADMIN_CLIENT_SECRET"]),
                data={"grant_type": "client_credentials"},
            ).json()["access_token"]
            listed = http.get(
                f"/api/atlas/v2/groups/{ready['project_id']}/streams",
                headers={
                    "Authorization": f"Bearer {token}",
                    "Accept": "application/vnd.atlas.2023-02-01+json",
                },
            )
        assert [w["name"] for w in listed.json()["results"]] == [ready["workspace_name"]]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
