"""Admin API requests per operator call of the workspace and connection operators, counted
at the emulated Admin API (token requests apart). Each operator runs ``execute()`` through
a real AspAdminHook; run twice, the second run shows what idempotency costs. Also: tokens
fetched for all of it (one per credential per process). A script, not a test.
"""

from __future__ import annotations

import os
import tempfile

# Airflow reads its home when first imported: a private one, before any airflow import.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="asp-bench-home-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"

import atexit
import json
import shutil
from typing import Any

from asp_emulator import Workspace

atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)

WS = "bench-ws"
HTTPS = {"type": "Https", "url": "https://hooks.example/bench"}
KAFKA = {"type": "Kafka", "bootstrapServers": "b:9092", "authentication": {"mechanism": "PLAIN"}}
FAST: dict[str, Any] = {"poll_interval": 0.05, "timeout": 30}


def scenarios() -> list[tuple[str, type[Any], dict[str, Any]]]:
    """(label, operator class, arguments), run in this order."""
    from airflow_provider_asp.operators import admin

    deploy = admin.AspDeployConnectionOperator
    https = {"workspace_name": WS, "connection_name": "hook", "definition": HTTPS, **FAST}
    kafka = {
        "workspace_name": WS,
        "connection_name": "kafka",
        "definition": KAFKA,
        "secrets_conn_id": "bench_kafka",
        **FAST,
    }
    return [
        ("create workspace (new, sample connections)", admin.AspCreateWorkspaceOperator,
         {"workspace_name": WS, "sample_connections": True, **FAST}),
        ("create workspace (exists, same)", admin.AspCreateWorkspaceOperator,
         {"workspace_name": WS, "sample_connections": True, **FAST}),
        ("create workspace (tier differs: PATCH)", admin.AspCreateWorkspaceOperator,
         {"workspace_name": WS, "tier": "SP10", **FAST}),
        ("deploy Https connection (new)", deploy, https),
        ("deploy Https connection (unchanged)", deploy, https),
        ("deploy Https connection (url differs)", deploy,
         {**https, "definition": {**HTTPS, "url": "https://hooks.example/v2"}}),
        ("deploy Kafka connection with secrets (new)", deploy, kafka),
        ("deploy Kafka connection with secrets (again)", deploy, kafka),
        ("deploy Kafka connection, update_secrets=False", deploy,
         {**kafka, "update_secrets": False}),
        ("delete connection (exists)", admin.AspDeleteConnectionOperator,
         {"workspace_name": WS, "connection_name": "hook", **FAST}),
        ("delete connection (absent)", admin.AspDeleteConnectionOperator,
         {"workspace_name": WS, "connection_name": "hook", **FAST}),
        ("delete workspace (exists)", admin.AspDeleteWorkspaceOperator,
         {"workspace_name": WS, **FAST}),
        ("delete workspace (absent)", admin.AspDeleteWorkspaceOperator,
         {"workspace_name": WS, **FAST}),
    ]  # fmt: skip


def main() -> None:
    with Workspace(admin_api=True) as ws:
        os.environ["AIRFLOW_CONN_ASP_ADMIN_DEFAULT"] = json.dumps(ws.airflow_admin_connection())
        os.environ["AIRFLOW_CONN_BENCH_KAFKA"] = json.dumps(
            {"conn_type": "generic", "login": "u", "password": "bench-secret"}
        )
        tokens = ws.admin_tokens_issued
        rows = []
        for label, cls, kwargs in scenarios():
            before = ws.admin_request_counts()
            cls(task_id="bench", **kwargs).execute({})
            after = ws.admin_request_counts()
            seen = {
                k: v - before.get(k, 0)
                for k, v in after.items()
                if v > before.get(k, 0) and k != "POST token"
            }
            detail = ", ".join(f"{k} {v}" for k, v in sorted(seen.items()))
            rows.append(f"{label:50} {sum(seen.values()):8}  ({detail})")
        print(f"\n{'operator call':50} requests  (by route)", *rows, sep="\n")
        print(f"tokens fetched for all of it: {ws.admin_tokens_issued - tokens}")


if __name__ == "__main__":
    main()
