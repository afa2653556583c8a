"""Lineage of the create, start, modify and deploy operators, through real Airflow.

With the OpenLineage provider enabled (its own file transport) a ``dag.test()`` run emits
START and COMPLETE events whose inputs and outputs are the pipelines' datasets, with the
pipeline as the job's ``sql`` facet. All tasks share the run's process, and so Airflow's hook
lineage collector: the operators report only through their own OpenLineage methods, so the
drops after them report no dataset. The ``atlas-stream-processing`` asset scheme translates
declared assets to the same datasets. The run happens in a process of its own: OpenLineage
reads its configuration when its plugin is imported. Without the provider (imports of it
made to fail), nothing imports it and the operators send what they always sent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from asp_core.lineage import workspace_of
from tests.support.airflow import DAG_HEADER, PASSWORD

KAFKA, CLUSTER = "lineage_kafka", "lineage_cluster"
DAG_BODY = """
from airflow_provider_asp.operators.asp import (
    AspCreateProcessorOperator,
    AspDeployProcessorOperator,
    AspDropProcessorOperator,
    AspModifyProcessorOperator,
    AspStartProcessorOperator,
)

with DAG("{dag_id}", schedule=None, start_date=START, catchup=False) as dag:
    create = AspCreateProcessorOperator(
        task_id="create",
        processor_name="lineage_orders",
        pipeline=[
            {"$source": {"connectionName": "lineage_kafka", "topic": "orders"}},
            {"$merge": {"into": {"connectionName": "lineage_cluster", "db": "shop",
                                 "coll": "orders"}}},
        ],
        dlq={"connectionName": "lineage_cluster", "db": "shop", "coll": "dlq"},
    )
    start = AspStartProcessorOperator(task_id="start", processor_name="lineage_orders")
    modify = AspModifyProcessorOperator(
        task_id="modify",
        processor_name="lineage_orders",
        pipeline=[
            {"$source": {"connectionName": "lineage_kafka", "topic": "orders"}},
            {"$emit": {"connectionName": "lineage_kafka", "topic": "orders_clean"}},
        ],
        resume_from_checkpoint=False,
    )
    deploy = AspDeployProcessorOperator(
        task_id="deploy",
        processor_name="lineage_solar",
        pipeline='[{"$source": {"connectionName": "sample_stream_solar"}}, '
                 '{"$emit": {"connectionName": "__testLog"}}]',
    )
    drop = [
        AspDropProcessorOperator(task_id=f"drop_{name}", processor_name=name,
                                 trigger_rule="all_done")
        for name in ("lineage_orders", "lineage_solar")
    ]
    create >> start >> modify >> deploy >> drop
"""
RUN = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("lineage_dag", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
run = module.dag.test()
from airflow.providers.common.compat.lineage.hook import get_hook_lineage_collector
collected = get_hook_lineage_collector().collected_assets
# a file, not stdout: the OpenLineage listener's threads log to stdout at the same time
open(sys.argv[2], "w").write(json.dumps({
    "states": {ti.task_id: str(ti.state) for ti in run.get_task_instances()},
    "inputs": sorted({item.asset.uri for item in collected.inputs}),
    "outputs": sorted({item.asset.uri for item in collected.outputs}),
}))
"""


@pytest.fixture(scope="module")
def lineage_run(airflow_home: Path, workspace, tmp_path_factory) -> dict[str, Any]:
    """The DAG run with OpenLineage on: its result (task states, collected assets) and the
    OpenLineage events."""
    workspace.add_connection(KAFKA, "kafka")
    workspace.add_connection(CLUSTER, "atlas")
    ol_dir = tmp_path_factory.mktemp("openlineage")
    dag_file = airflow_home / "dags" / "asp_lineage_test.py"
    dag_file.write_text(DAG_HEADER + DAG_BODY.replace("{dag_id}", "asp_lineage_test"))
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
                {"type": "file", "log_file_path": str(ol_dir / "events.jsonl"), "append": True}
            ),
            "AIRFLOW__OPENLINEAGE__NAMESPACE": "asp-tests",
        }
    )
    result_file = ol_dir / "result.json"
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(dag_file), str(result_file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-5000:]
    assert result_file.exists(), output[-5000:]
    events = [
        json.loads(line)
        for path in sorted(ol_dir.glob("events.jsonl*"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    return {"result": json.loads(result_file.read_text()), "events": events, "log": output}


def datasets(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((item["namespace"], item["name"]) for item in items)


def assert_no_dataset_twice(events: list[dict[str, Any]]) -> None:
    for event in events:
        for side in ("inputs", "outputs"):
            found = datasets(event.get(side, []))
            assert len(found) == len(set(found)), (event["job"]["name"], side, found)


def task_events(run: dict[str, Any], task_id: str) -> dict[str, dict[str, Any]]:
    """The task's OpenLineage events by type (START, COMPLETE)."""
    name = f"asp_lineage_test.{task_id}"
    found = {e["eventType"]: e for e in run["events"] if e["job"]["name"] == name}
    assert {"START", "COMPLETE"} <= set(found), sorted({e["job"]["name"] for e in run["events"]})
    return found


def namespace(workspace) -> str:
    """The workspace's namespace (the test's connections are not in its registry)."""
    return f"atlas-stream-processing://{workspace_of(*workspace.address)}"


def test_the_run_succeeded(lineage_run):
    states = lineage_run["result"]["states"]
    assert set(states.values()) == {"success"}, states
    assert PASSWORD not in lineage_run["log"]


@pytest.mark.parametrize("kind", ["START", "COMPLETE"])
def test_create_reports_its_source_its_merge_and_its_dead_letter_queue(
    lineage_run, workspace, kind
):
    event = task_events(lineage_run, "create")[kind]
    assert datasets(event["inputs"]) == [(namespace(workspace), f"{KAFKA}/orders")]
    assert datasets(event["outputs"]) == [
        (namespace(workspace), f"{CLUSTER}/shop.dlq"),
        (namespace(workspace), f"{CLUSTER}/shop.orders"),
    ]
    job = event["job"]["facets"]
    assert job["sql"]["dialect"] == "atlas-stream-processing"
    assert json.loads(job["sql"]["query"])[0] == {
        "$source": {"connectionName": KAFKA, "topic": "orders"}
    }
    external = event["run"]["facets"]["externalQuery"]
    assert external["externalQueryId"] == "lineage_orders"
    assert external["source"] == namespace(workspace)


def test_start_reads_the_pipeline_from_the_processor(lineage_run, workspace):
    for event in task_events(lineage_run, "start").values():
        assert datasets(event["inputs"]) == [(namespace(workspace), f"{KAFKA}/orders")]
        assert (namespace(workspace), f"{CLUSTER}/shop.orders") in datasets(event["outputs"])


def test_modify_reports_the_new_pipeline_and_the_kept_dead_letter_queue(lineage_run, workspace):
    event = task_events(lineage_run, "modify")["COMPLETE"]
    assert datasets(event["outputs"]) == [
        (namespace(workspace), f"{CLUSTER}/shop.dlq"),
        (namespace(workspace), f"{KAFKA}/orders_clean"),
    ]


def test_deploy_reports_a_templated_json_pipeline(lineage_run, workspace):
    event = task_events(lineage_run, "deploy")["COMPLETE"]
    assert datasets(event["inputs"]) == [(namespace(workspace), "sample_stream_solar")]
    assert datasets(event["outputs"]) == [(namespace(workspace), "__testLog")]


def test_nothing_is_left_in_the_process_wide_hook_lineage_collector(lineage_run):
    result = lineage_run["result"]
    assert (result["inputs"], result["outputs"]) == ([], [])


@pytest.mark.parametrize("task_id", ["drop_lineage_orders", "drop_lineage_solar"])
def test_tasks_after_them_in_the_same_process_report_no_dataset(lineage_run, task_id):
    for event in task_events(lineage_run, task_id).values():
        assert (event["inputs"], event["outputs"]) == ([], [])


def test_no_event_lists_a_dataset_twice(lineage_run):
    assert_no_dataset_twice(lineage_run["events"])


def test_hook_lineage_assets_translate_to_the_same_datasets(workspace):
    from airflow.providers.openlineage.utils.utils import translate_airflow_asset
    from airflow.sdk import Asset

    ns = namespace(workspace)
    for path, name in [(f"{CLUSTER}/shop.orders", f"{CLUSTER}/shop.orders"), ("__testLog",) * 2]:
        dataset = translate_airflow_asset(Asset(uri=f"{ns}/{path}"), None)
        assert dataset is not None
        assert (dataset.namespace, dataset.name) == (ns, name)
    with pytest.raises(ValueError, match="path is"):
        Asset(uri="atlas-stream-processing://host/connection/name/extra")


#: A process where the OpenLineage client and provider cannot be imported (but the provider's
#: metadata, which Airflow reads from every installed distribution, still can).
BLOCKED = """
import importlib.abc, sys
attempts = []
ALLOWED = {"airflow.providers.openlineage", "airflow.providers.openlineage.get_provider_info"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        blocked = name.split(".")[0] == "openlineage" or (
            name.startswith("airflow.providers.openlineage.") and name not in ALLOWED
        )
        if blocked:
            attempts.append(name)
            raise ImportError(f"{name} is not installed (blocked by the test)")
        return None
sys.meta_path.insert(0, Block())

import json
from airflow_provider_asp.operators.asp import AspCreateProcessorOperator, AspStartProcessorOperator
from airflow_provider_asp.triggers.events import AspProcessorOutputEventTrigger
from airflow_provider_asp.lineage import assets, reporting
from asp_core import lineage
import airflow_provider_asp.example_dags.asp_event_driven
ours_imported = list(attempts)
create = AspCreateProcessorOperator(task_id="c", processor_name="p",
                                    pipeline=[{"$source": {"connectionName": "x"}}])
start = AspStartProcessorOperator(task_id="s", processor_name="p")
facets = [create.get_openlineage_facets_on_start(), start.get_openlineage_facets_on_complete(None),
          start.get_openlineage_facets_on_failure(None)]
create.post_execute({})
print("RESULT " + json.dumps({"ours_imported": ours_imported, "facets": facets,
                              "loaded": sorted(m for m in sys.modules if "openlineage" in m)}))
"""


def asp_commands(workspace: Any) -> dict[str, int]:
    """The workspace's command counts without the drivers' own (handshakes and heartbeats of
    every client of the session come and go on their own schedule)."""
    from asp_emulator.monitoring import DRIVER_COMMANDS

    ignored = {name.lower() for name in DRIVER_COMMANDS}
    return {k: v for k, v in workspace.command_counts().items() if k.lower() not in ignored}


def test_without_openlineage_nothing_imports_it_and_no_command_is_sent(workspace):
    before = asp_commands(workspace)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(BLOCKED)],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert lines, (done.stdout + done.stderr)[-3000:]
    result = json.loads(lines[0][len("RESULT ") :])
    assert result["ours_imported"] == []  # importing the provider tries no OpenLineage import
    assert result["facets"] == [None, None, None]
    assert not [m for m in result["loaded"] if not m.endswith(("openlineage", "get_provider_info"))]
    assert asp_commands(workspace) == before  # not even a listStreamConnections


def test_with_openlineage_off_an_operator_sends_what_it_always_sent(workspace, run_dag):
    before = workspace.command_counts().get("listStreamConnections", 0)
    result = run_dag(
        """
with DAG("{dag_id}", schedule=None, start_date=START) as dag:
    AspCreateProcessorOperator(task_id="create", processor_name="lineage_off",
                               pipeline=[{"$source": {"connectionName": "sample_stream_solar"}},
                                         {"$emit": {"connectionName": "__testLog"}}])
    AspDropProcessorOperator(task_id="drop", processor_name="lineage_off")
"""
    )
    assert set(result.states.values()) == {"success"}
    assert workspace.command_counts().get("listStreamConnections", 0) == before
