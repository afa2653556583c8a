"""The ``asp_event_driven`` example under a real scheduler, DAG processor and triggerer.

The example file is the only DAG file. Its deploy DAG (triggered with the CLI) deploys the
processor on a connection the test feeds; the watchers of the two assets run in the
triggerer. Documents fed into the connection start the consumer DAG, which gets exactly the
matching documents; a failure injected into the processor starts the remediation DAG once:
looked at again and again, and across a restart of the triggerer (the transition it told is
remembered in the asset's state store), it is still one event and one run. Every process
listens on loopback only, no log holds the password, and the tree is stopped afterwards.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.airflow import PASSWORD
from tests.support.airflow_processes import LOCAL, Tree, start_airflow, wait_for

EXAMPLE = (
    Path(__file__).resolve().parents[2]
    / "airflow_provider_asp"
    / "example_dags"
    / "asp_event_driven.py"
)
PROCESSOR = "asp_event_driven"
SOURCE = "asp_event_driven_feed"
CONSUMER, REMEDIATION, DEPLOY = (
    "asp_event_driven",
    "asp_event_driven_remediation",
    "asp_event_driven_deploy",
)
OUTPUT_TRIGGER = "airflow_provider_asp.triggers.events.AspProcessorOutputEventTrigger"
STATE_TRIGGER = "airflow_provider_asp.triggers.events.AspProcessorStateEventTrigger"


@pytest.fixture
def airflow(tmp_path: Path, workspace, client) -> Iterator[Tree]:
    home = tmp_path / "home"
    (home / "dags").mkdir(parents=True)
    shutil.copy(EXAMPLE, home / "dags" / EXAMPLE.name)
    workspace.add_connection(SOURCE)
    tree = start_airflow(home, tmp_path)
    try:
        yield tree
    finally:
        tree.stop()
        if PROCESSOR in workspace.processors():
            client.stream_processors().get(PROCESSOR).drop()


def runs(tree: Tree, dag_id: str) -> list[tuple[str, str]]:
    return tree.query("SELECT run_id, state FROM dag_run WHERE dag_id = ?", dag_id)


def done_runs(tree: Tree, dag_id: str) -> list[str]:
    """Run ids of finished runs; a failed run fails the test at once."""
    states = runs(tree, dag_id)
    assert "failed" not in {state for _, state in states}, f"{dag_id}: {states}"
    return [run_id for run_id, state in states if state == "success"]


def returned(tree: Tree, dag_id: str, task_id: str) -> list[Any]:
    rows = tree.query(
        "SELECT value FROM xcom WHERE dag_id = ? AND task_id = ? AND key = 'return_value'",
        dag_id,
        task_id,
    )
    return [json.loads(value) for (value,) in rows]


def asset_events(tree: Tree, asset: str) -> list[dict[str, Any]]:
    rows = tree.query(
        "SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.name = ?",
        asset,
    )
    return [json.loads(extra) for (extra,) in rows]


def watchers_running(tree: Tree) -> bool:
    rows = tree.query("SELECT classpath FROM trigger WHERE triggerer_id IS NOT NULL")
    return {OUTPUT_TRIGGER, STATE_TRIGGER} <= {classpath for (classpath,) in rows}


def looks(workspace) -> int:
    return int(workspace.command_counts().get("getStreamProcessor", 0))


@pytest.mark.timeout(480)
def test_processor_output_and_failure_start_their_dags(workspace, airflow):
    tree = airflow
    wait_for(lambda: watchers_running(tree), 120, "the watchers to run in the triggerer", tree)
    cursors = workspace.command_counts().get("startSampleStreamProcessor", 0)
    tree.airflow("dags", "trigger", DEPLOY, "--conf", json.dumps({"source": SOURCE}))
    wait_for(lambda: done_runs(tree, DEPLOY), 120, "the deploy run", tree)
    assert workspace.processors()[PROCESSOR] == "STARTED"
    wait_for(
        lambda: workspace.command_counts().get("startSampleStreamProcessor", 0) > cursors,
        60,
        "the output watcher to open a sample cursor",
        tree,
    )

    # Output: the processor keeps >= 300 W, the watcher >= 400 W.
    readings: list[dict[str, Any]] = [
        {"device_id": f"device_{i}", "obs": {"watts": watts, "temp": 20}}
        for i, watts in enumerate([450, 320, 410, 100, 500])
    ]
    workspace.feed(SOURCE, readings)
    hot = [r for r in readings if r["obs"]["watts"] >= 400]

    def consumed() -> list[Any]:
        done_runs(tree, CONSUMER)
        return [
            doc
            for value in returned(tree, CONSUMER, "handle_hot_panels")
            for doc in value["readings"]
        ]

    wait_for(lambda: len(consumed()) >= len(hot), 120, "the consumer DAG's runs", tree)
    assert sorted(consumed(), key=lambda d: d["device_id"]) == hot  # each once, nothing else
    events = asset_events(tree, "asp_event_driven_hot_panels")  # one, unless a batch split
    assert {(e["from_trigger"], e["payload"]["processor_name"]) for e in events} == {
        (True, PROCESSOR)
    }
    assert sum(e["payload"]["count"] for e in events) == len(hot)

    # Failure: one event, one remediation run, however often it is looked at.
    workspace.fail_processor(PROCESSOR, "sink unreachable", code=4242, retryable=False)
    wait_for(lambda: done_runs(tree, REMEDIATION), 120, "the remediation run", tree)
    (report,) = returned(tree, REMEDIATION, "report_failure")
    assert {k: report[k] for k in ("state", "error_msg", "error_code", "error_retryable")} == {
        "state": "FAILED",
        "error_msg": "sink unreachable",
        "error_code": 4242,
        "error_retryable": False,
    }
    (restart,) = tree.query("SELECT state FROM task_instance WHERE task_id = 'restart'")
    assert restart == ("skipped",)  # not retryable: not restarted
    seen = looks(workspace)
    wait_for(lambda: looks(workspace) >= seen + 4, 60, "more looks at the processor", tree)
    assert len(asset_events(tree, "asp_event_driven_failures")) == 1

    # A new triggerer: the watchers start again and remember the failure they told.
    remembered = tree.query("SELECT key FROM asset_state_store")
    assert any(key.startswith("asp_state:asp_event_driven:") for (key,) in remembered)
    tree.stop_one("triggerer")
    tree.start("triggerer", "--skip-serve-logs")
    seen = looks(workspace)  # both watchers look every 5 s: three looks each, about
    wait_for(lambda: looks(workspace) >= seen + 6, 120, "the new triggerer's looks", tree)
    assert len(asset_events(tree, "asp_event_driven_failures")) == 1
    assert len(runs(tree, REMEDIATION)) == 1
    assert workspace.processors()[PROCESSOR] == "FAILED"

    listening = tree.listening()
    assert ("127.0.0.1", tree.port) in listening
    assert {ip for ip, _ in listening} <= LOCAL, listening
    written = [path for path in tree.logs.rglob("*") if path.is_file()]
    assert not [path for path in written if PASSWORD.encode() in path.read_bytes()]
