"""Wire commands per operator call, counted with pymongo command monitoring.

Each operator runs ``execute()`` against an emulated workspace through a real AspHook
whose client reports its commands; pymongo's own handshake, authentication and session
commands are left out. A script, not a test.
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
from asp_emulator.monitoring import DRIVER_COMMANDS, CommandRecorder

# The private AIRFLOW_HOME goes when the process ends (children too).
atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)

SOURCE = [{"$source": {"connectionName": "feed"}}, {"$emit": {"connectionName": "__testLog"}}]
MATCH = [SOURCE[0], {"$match": {"x": 1}}, SOURCE[1]]
FAST: dict[str, Any] = {"poll_interval": 0.05, "timeout": 30}


def scenarios() -> list[tuple[str, type[Any], dict[str, Any]]]:
    """(label, operator class, arguments), run in this order on one processor."""
    from airflow_provider_asp.operators import asp

    return [
        ("create (new)", asp.AspCreateProcessorOperator, {"pipeline": SOURCE}),
        ("create (retry, same definition)", asp.AspCreateProcessorOperator, {"pipeline": SOURCE}),
        ("start + wait (CREATED)", asp.AspStartProcessorOperator, FAST),
        ("start (already STARTED)", asp.AspStartProcessorOperator, FAST),
        (
            "sample (limit 5, none ready, 0.5 s)",
            asp.AspSampleProcessorOperator,
            {"limit": 5, "timeout": 0.5},
        ),
        ("sample (limit 5, 5 ready)", asp.AspSampleProcessorOperator, {"limit": 5, "timeout": 5}),
        ("stats", asp.AspGetProcessorStatsOperator, {}),
        (
            "modify (running, new pipeline)",
            asp.AspModifyProcessorOperator,
            {"pipeline": MATCH, **FAST},
        ),
        ("modify (nothing differs)", asp.AspModifyProcessorOperator, {"pipeline": MATCH, **FAST}),
        ("stop + wait (STARTED)", asp.AspStopProcessorOperator, FAST),
        ("stop (already STOPPED)", asp.AspStopProcessorOperator, FAST),
        (
            "deploy (STOPPED, to STARTED)",
            asp.AspDeployProcessorOperator,
            {"pipeline": MATCH, **FAST},
        ),
        ("deploy (up to date)", asp.AspDeployProcessorOperator, {"pipeline": MATCH, **FAST}),
        ("drop", asp.AspDropProcessorOperator, {}),
        ("drop (missing)", asp.AspDropProcessorOperator, {}),
        ("deploy (new, to STARTED)", asp.AspDeployProcessorOperator, {"pipeline": SOURCE, **FAST}),
    ]


def main() -> None:
    from airflow_provider_asp.hooks.asp import AspHook

    rows: list[tuple[str, list[str]]] = []
    with Workspace(users={"admin": "bench-password"}, connections=["feed"]) as ws:
        os.environ["AIRFLOW_CONN_ASP_DEFAULT"] = json.dumps(ws.airflow_connection())
        recorder = CommandRecorder(ignore=DRIVER_COMMANDS - {"ping"})
        for label, operator_class, arguments in scenarios():
            if label == "sample (limit 5, 5 ready)":
                ws.feed("feed", [{"x": n} for n in range(5)])
            operator = operator_class(task_id="bench", processor_name="bench", **arguments)
            operator.hook = AspHook(event_listeners=[recorder])
            recorder.clear()
            operator.execute({})
            rows.append((label, recorder.names()))
    width = max(len(label) for label, _ in rows)
    print(f"{'operator call':<{width}}   n  commands")
    for label, names in rows:
        print(f"{label:<{width}}  {len(names):>2}  {', '.join(names)}")


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(os.environ["AIRFLOW_HOME"], ignore_errors=True)
