"""Errors a new user meets first, through real Airflow operators, sensors and triggers:
a refused pipeline names the stage, a certificate that fails verification fails the task at
once without retries, every failure logs its one line at ERROR, a missing processor names
the connection and host."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_asp.operators.asp import (
    AspCreateProcessorOperator,
    AspDeployProcessorOperator,
    AspGetProcessorStatsOperator,
    AspStartProcessorOperator,
)
from airflow_provider_asp.sensors.asp import AspProcessorStateSensor
from airflow_provider_asp.triggers.asp import AspProcessorStateTrigger
from asp_core.errors import (
    AspConnectionError,
    AspDefinitionRefusedError,
    AspProcessorNotFoundError,
    AspTlsError,
)
from asp_emulator import Workspace
from tests.support.airflow import PASSWORD, connection_json
from tests.support.operators import FAST, run
from tests.support.tasks import only_event, rebuilt
from tests.support.tls import CASES, untrusted_workspaces

TYPO = [
    {"$source": {"documents": [{"a": 1}]}},
    {"$matchh": {"a": 1}},
    {"$emit": {"connectionName": "__testLog"}},
]


def error_lines(text: str, words: str) -> list[str]:
    """The lines of captured task logs at ERROR that carry ``words``."""
    return [line for line in text.splitlines() if words in line and "error" in line.lower()]


# -- a refused pipeline ----------------------------------------------------------------------


@pytest.mark.parametrize("operator", [AspCreateProcessorOperator, AspDeployProcessorOperator])
def test_a_typo_in_a_stage_is_named_with_its_position_and_a_suggestion(
    operator, name, workspace, capfd
):
    task = operator(task_id="t", processor_name=name, pipeline=TYPO, **FAST)
    with pytest.raises(AspDefinitionRefusedError) as raised:
        run(task)
    assert isinstance(raised.value, AirflowFailException)  # no retries
    message = str(raised.value)
    assert f"Stream processor {name!r}" in message
    assert "stage 2 of 3 (`$matchh`)" in message
    assert "did you mean `$match`?" in message
    assert "stage 1: unknown stage '$matchh'" in message  # the server's words
    assert (raised.value.stage, raised.value.suggestion) == (2, "$match")
    assert raised.value.__cause__ is None  # the server's error is in the words, not the chain
    assert name not in workspace.processors()
    assert len(error_lines(capfd.readouterr().out, "did you mean `$match`?")) == 1


# -- a certificate that fails verification ----------------------------------------------------


@pytest.fixture(scope="module")
def untrusted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple]]:
    with untrusted_workspaces(str(tmp_path_factory.mktemp("tls"))) as made:
        yield made


def untrusted_connection(add_connection, untrusted, case: str) -> str:
    workspace, ca_file = untrusted[case]
    extra = {"tls_ca_file": ca_file, "server_selection_timeout_ms": 2000}
    return add_connection(f"asp_{case}", connection_json(workspace, extra=extra))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("operator", [AspStartProcessorOperator, AspGetProcessorStatsOperator])
def test_an_untrusted_certificate_fails_the_task_at_once(
    operator, case, untrusted, add_connection, capfd
):
    conn_id = untrusted_connection(add_connection, untrusted, case)
    task = operator(task_id="t", processor_name="p", asp_conn_id=conn_id, timeout=60)
    started = time.monotonic()
    with pytest.raises(AspTlsError) as raised:
        run(task)
    elapsed = time.monotonic() - started
    assert elapsed < 15, elapsed  # 2 s of server selection; the timeout was 60 s
    assert isinstance(raised.value, AirflowFailException)
    assert f"Connection {conn_id!r}: TLS with 127.0.0.1:" in str(raised.value)
    assert "(is the CA file right?)" in str(raised.value)
    assert "CERTIFICATE_VERIFY_FAILED" in str(raised.value)
    assert len(error_lines(capfd.readouterr().out, "(is the CA file right?)")) == 1


def test_a_deferred_wait_ends_in_a_failure_without_retries(untrusted, add_connection):
    conn_id = untrusted_connection(add_connection, untrusted, "unknown_ca")
    trigger = AspProcessorStateTrigger(
        processor_name="p", asp_conn_id=conn_id, end_time=time.time() + 60, poll_interval=0.05
    )
    started = time.monotonic()
    event = asyncio.run(only_event(rebuilt(trigger)))
    assert time.monotonic() - started < 15
    assert (event.payload["status"], event.payload["reason"]) == ("failed", "certificate")
    sensor = AspProcessorStateSensor(
        task_id="s", processor_name="p", asp_conn_id=conn_id, deferrable=True, timeout=60
    )
    with pytest.raises(AspTlsError) as raised:
        sensor.execute_complete({}, event.payload)
    assert isinstance(raised.value, AirflowFailException)
    assert "(is the CA file right?)" in str(raised.value)


def test_an_unreachable_host_stays_retryable(add_connection, workspace):
    with Workspace() as gone:
        port = gone.port
    conn = connection_json(workspace, port=port, extra={"server_selection_timeout_ms": 500})
    conn_id = add_connection("asp_gone", conn)
    task = AspGetProcessorStatsOperator(
        task_id="t", processor_name="p", asp_conn_id=conn_id, timeout=2
    )
    with pytest.raises(AspConnectionError) as raised:
        run(task)
    assert not isinstance(raised.value, (AspTlsError, AirflowFailException))
    assert "Cannot reach the workspace" in str(raised.value)


# -- one line at ERROR ------------------------------------------------------------------------


def test_a_wrong_password_is_one_error_line_without_the_password(workspace, add_connection, capfd):
    conn_id = add_connection("asp_badpw", connection_json(workspace, password=PASSWORD + "x"))
    task = AspStartProcessorOperator(task_id="t", processor_name="p", asp_conn_id=conn_id)
    with pytest.raises(AspConnectionError) as raised:
        run(task)
    assert raised.value.__cause__ is None  # no chained pymongo traceback
    out = capfd.readouterr()
    lines = error_lines(out.out, "Authentication failed for user 'admin'")
    assert len(lines) == 1, out.out
    assert f"Connection {conn_id!r}: Authentication failed" in lines[0]
    assert PASSWORD not in out.out + out.err + str(raised.value)


# -- a missing processor ----------------------------------------------------------------------


def test_a_missing_processor_names_the_connection_and_host(workspace, name, capfd):
    where = f"connection 'asp_default', host {workspace.host}:{workspace.port}"
    expected = f"Stream processor {name!r} does not exist ({where})."
    for task in (
        AspStartProcessorOperator(task_id="t", processor_name=name, **FAST),
        AspGetProcessorStatsOperator(task_id="s", processor_name=name),
    ):
        with pytest.raises(AspProcessorNotFoundError) as raised:
            run(task)
        assert str(raised.value) == expected
        assert raised.value.processor_name == name
    assert len(error_lines(capfd.readouterr().out, expected)) == 2
