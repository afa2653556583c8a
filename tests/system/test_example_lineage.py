"""OpenLineage under ``airflow dags test asp_lifecycle``: every task runs in one process, so
one task's lineage must not reach the next's events.

A real ``airflow dags test`` against the emulated workspace, with the OpenLineage provider's
own file transport. The create and start tasks report the processor's datasets (named in the
workspace's namespace, port kept, the connection named once); the sensor, sample, stats, stop
and drop tasks touch no dataset and report none; no event lists a dataset twice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from asp_core.lineage import workspace_of
from asp_emulator import Workspace
from tests.system.test_example_dags import dags_test

#: The lifecycle's tasks that define or run the processor, and those that only look or end it.
REPORTING = ("create", "start")
SILENT = ("wait_until_running", "sample", "stats", "stop", "drop")


def datasets(event: dict[str, Any], side: str) -> list[tuple[str, str]]:
    return [(item["namespace"], item["name"]) for item in event.get(side, [])]


@pytest.fixture(scope="module")
def lifecycle_events(airflow_home: Path, workspace: Workspace, tmp_path_factory) -> list[dict]:
    """The OpenLineage events of one ``airflow dags test asp_lifecycle``."""
    events_file = tmp_path_factory.mktemp("openlineage") / "events.jsonl"
    transport = {"type": "file", "log_file_path": str(events_file), "append": True}
    run = dags_test(
        airflow_home,
        "asp_lifecycle",
        deferrable=False,
        conf={"processor_name": "lineage_lifecycle"},
        env_extra={
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport),
            "AIRFLOW__OPENLINEAGE__NAMESPACE": "asp-tests",
        },
    )
    assert run.returncode == 0, run.output[-3000:]
    assert run.state == "success", run.states
    return [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]


def by_task(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        dag_id, dot, task_id = event["job"]["name"].partition(".")
        if dot and dag_id == "asp_lifecycle":
            found.setdefault(task_id, []).append(event)
    return found


def test_create_and_start_report_the_processors_datasets(lifecycle_events, workspace):
    namespace = f"atlas-stream-processing://{workspace_of(*workspace.address)}"
    assert namespace.endswith(f":{workspace.address[1]}")  # the emulator's port is kept
    tasks = by_task(lifecycle_events)
    for task_id in REPORTING:
        assert {e["eventType"] for e in tasks[task_id]} >= {"START", "COMPLETE"}, task_id
        for event in tasks[task_id]:
            assert datasets(event, "inputs") == [(namespace, "sample_stream_solar")], task_id
            assert datasets(event, "outputs") == [(namespace, "__testLog")], task_id


def test_tasks_that_touch_no_dataset_report_none(lifecycle_events):
    tasks = by_task(lifecycle_events)
    assert set(SILENT) <= set(tasks), sorted(tasks)
    for task_id, events in tasks.items():
        if task_id not in REPORTING:
            for event in events:
                assert datasets(event, "inputs") == datasets(event, "outputs") == [], task_id


def test_no_event_lists_a_dataset_twice(lifecycle_events):
    assert lifecycle_events
    for event in lifecycle_events:
        for side in ("inputs", "outputs"):
            found = datasets(event, side)
            assert len(found) == len(set(found)), (event["job"]["name"], side, found)
