"""End to end through real Airflow: DAG files in the dags folder run with ``dag.test()``
against the emulator (tasks, templating, XCom, extra links, retries, teardown), and the
password nowhere in what those runs leave behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.airflow import PASSWORD, connection_json
from tests.support.operators import arrange, failing_on_start

WRONG_PASSWORD = "Wrong-Pa55word-for-tests"

CHAIN = """
PIPELINE = (
    '[{"$source": {"documents": [{"n": 1}, {"n": 2}, {"n": 3}]}},'
    ' {"$match": {"n": {"$gt": {{ params.threshold }} }}},'
    ' {"$emit": {"connectionName": "__testLog"}}]'
)
FAST = {"poll_interval": 0.1, "timeout": 30}

PARAMS = {"threshold": 1}

with DAG("{dag_id}", schedule=None, start_date=START, catchup=False, params=PARAMS) as dag:
    name = "{{ dag.dag_id }}_proc"
    (
        AspCreateProcessorOperator(task_id="create", processor_name=name, pipeline=PIPELINE)
        >> AspStartProcessorOperator(task_id="start", processor_name=name, **FAST)
        >> AspSampleProcessorOperator(task_id="sample", processor_name=name, limit=2, timeout=10)
        >> AspGetProcessorStatsOperator(task_id="stats", processor_name=name)
        >> AspModifyProcessorOperator(task_id="modify", processor_name=name, tier="SP5", **FAST)
        >> AspStopProcessorOperator(task_id="stop", processor_name=name, **FAST)
        >> AspDropProcessorOperator(task_id="drop", processor_name=name, trigger_rule="all_done")
    )
"""


def value(result, task_id, key="return_value"):
    raw = result.xcoms[(task_id, key)]
    try:
        return json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        return raw


def assert_no_secret(result, captured: str, *secrets: str) -> None:
    """Neither the task logs nor XCom nor rendered fields hold any of ``secrets``."""
    stored = json.dumps([list(result.xcoms.values()), list(result.rendered.values())], default=str)
    logs = Path(result.dag_run.dag.fileloc).parents[1] / "logs"
    files = "".join(p.read_text(errors="replace") for p in logs.rglob("*") if p.is_file())
    for secret in secrets:
        assert secret not in captured
        assert secret not in stored
        assert secret not in files


def test_lifecycle_chain(workspace, run_dag, capfd):
    result = run_dag(CHAIN)
    captured = capfd.readouterr()
    assert set(result.states.values()) == {"success"}, result.states
    name = value(result, "create")["name"]
    assert value(result, "create")["state"] == "CREATED"
    assert value(result, "start")["state"] == "STARTED"
    assert value(result, "sample") == [{"n": 2}, {"n": 3}]
    assert value(result, "stats")["stats"]["outputMessageCount"] == 2
    assert (value(result, "modify")["tier"], value(result, "modify")["state"]) == ("SP5", "STARTED")
    assert value(result, "stop")["state"] == "STOPPED"
    assert value(result, "drop") == {"processor_name": name, "dropped": True}
    assert name not in workspace.processors()
    link = "https://cloud.mongodb.com/v2/proj0123#/streamProcessing/ws-test"
    assert value(result, "start", "_link_AspProcessorLink") == link
    assert '"$gt": 1 }' in result.rendered["create"]["pipeline"]
    assert f"Stream processor {name!r} is CREATED: starting it." in captured.out
    assert_no_secret(result, captured.out + captured.err, PASSWORD)
    assert "***" not in captured.out + captured.err  # nothing even tried to log it


DEPLOY = """
with DAG("{dag_id}", schedule=None, start_date=START, catchup=False) as dag:
    (
        AspDeployProcessorOperator(
            task_id="deploy",
            processor_name="{dag_id}_proc",
            pipeline=[
                {"$source": {"connectionName": "feed"}},
                {"$emit": {"connectionName": "__testLog"}},
            ],
            tier="SP2",
            poll_interval=0.1,
        )
        >> AspStartProcessorOperator(
            task_id="start", processor_name="{dag_id}_proc", poll_interval=0.1
        )
    )
"""


def test_running_a_dag_again_changes_nothing(workspace, run_dag):
    first = run_dag(DEPLOY, dag_id="asp_rerun")
    assert set(first.states.values()) == {"success"}
    assert value(first, "deploy")["actions"] == ["create", "start"]
    changed = workspace.processor("asp_rerun_proc")["lastStateChange"]
    second = run_dag(DEPLOY, dag_id="asp_rerun")
    assert set(second.states.values()) == {"success"}
    assert value(second, "deploy") == {
        "processor_name": "asp_rerun_proc",
        "actions": [],
        "changed": [],
        "state": "STARTED",
    }
    assert workspace.processor("asp_rerun_proc")["lastStateChange"] == changed


FAILURES = """
with DAG("{dag_id}", schedule=None, start_date=START, catchup=False) as dag:
    start = AspStartProcessorOperator(task_id="start", processor_name="{name}", poll_interval=0.05)
    stats = AspGetProcessorStatsOperator(
        task_id="stats", processor_name="{name}", asp_conn_id="asp_wrong"
    )
    [start, stats] >> AspDropProcessorOperator(
        task_id="teardown", processor_name="{name}", trigger_rule="all_done"
    )
"""


def test_failed_processor_and_wrong_password(
    workspace, client, name, run_dag, add_connection, capfd
):
    failing_on_start(workspace, client, name)
    add_connection("asp_wrong", connection_json(workspace, password=WRONG_PASSWORD))
    result = run_dag(FAILURES.replace("{name}", name))
    captured = capfd.readouterr()
    output = captured.out + captured.err
    assert result.states == {"start": "failed", "stats": "failed", "teardown": "success"}
    assert "FAILED: sink unreachable (errorCode 4242, not retryable)" in output
    assert "Authentication failed for user 'admin'" in output
    assert name not in workspace.processors()
    assert_no_secret(result, output, PASSWORD, WRONG_PASSWORD)


RETRY = """
with DAG("{dag_id}", schedule=None, start_date=START, catchup=False) as dag:
    AspStartProcessorOperator(
        task_id="start",
        processor_name="{name}",
        asp_conn_id="asp_fast",
        poll_interval=0.05,
        retries=1,
        retry_delay=datetime.timedelta(seconds=0),
    )
"""


@pytest.mark.timeout(60)
def test_a_lost_reply_is_resolved_by_looking_within_the_first_try(
    workspace, client, name, run_dag, add_connection
):
    arrange(client, name)
    add_connection("asp_fast", connection_json(workspace, extra={"socket_timeout_ms": 300}))
    sent = workspace.command_counts().get("startStreamProcessor", 0)
    workspace.inject_fault("startStreamProcessor", delay=0.6)
    result = run_dag(RETRY.replace("{name}", name))
    (ti,) = result.dag_run.get_task_instances()
    assert (str(ti.state), ti.try_number) == ("success", 1)  # no retry was needed
    assert workspace.processors()[name] == "STARTED"
    assert workspace.command_counts()["startStreamProcessor"] - sent == 2  # lost, then resent
