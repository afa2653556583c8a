"""What ``asp-emulator serve`` prints, pasted into a shell, is what the core and Airflow read:
``WorkspaceSettings.from_env`` (the Dagster examples' variables) and ``asp_default``."""

from __future__ import annotations

import json

from airflow.models.connection import Connection

from airflow_provider_asp.hooks.connection_form import settings_from_connection
from asp_core.settings import WorkspaceSettings
from asp_core.stream_processing import StreamProcessingClient
from tests.support.emulator_cli import serve, shell_values

PASSWORD = "pa ss 'w$rd' \\"


def test_the_printed_variables_reach_the_workspace() -> None:
    with serve(["--user", f"etl:{PASSWORD}"]) as served:
        values = shell_values(served.exports)
        settings = WorkspaceSettings.from_env(environ=values)
        assert (settings.host, settings.port) == ("127.0.0.1", served.ready["port"])
        assert (settings.username, settings.password) == ("etl", PASSWORD)
        assert settings.tls_ca_file == served.ready["ca_file"]
        with StreamProcessingClient(**settings.client_kwargs()) as client:
            assert client.stream_processors().list() == []

        conn = Connection.from_json(values["AIRFLOW_CONN_ASP_DEFAULT"], conn_id="asp_default")
        from_airflow = settings_from_connection(conn, conn.extra_dejson)
        same = ("host", "port", "username", "password", "tls_ca_file")
        assert {f: getattr(from_airflow, f) for f in same} == {
            f: getattr(settings, f) for f in same
        }
        assert json.loads(values["AIRFLOW_CONN_ASP_DEFAULT"])["conn_type"] == "asp"
