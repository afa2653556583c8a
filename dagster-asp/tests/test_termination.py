"""A run terminated while it waits stops the processor it started, and only that one.

The run is a real materialization in its own process; it is terminated as Dagster does: the
run is marked CANCELING and the process gets the interrupt Dagster sends
(``dagster_shared.ipc.interrupt_ipc_subprocess``), which Dagster raises inside the step as
``DagsterExecutionInterruptedError``. The emulator holds the start (``transition_delay``),
so the run is waiting when it is terminated.
"""

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster_shared.ipc import interrupt_ipc_subprocess

from dagster_asp import build_asp_processor_assets
from dagster_support.processors import orders_processor, unique
from dagster_support.workspaces import PASSWORD, resource_for

TESTS = Path(__file__).parent


@contextlib.contextmanager
def asp_workspace_client(asp):
    try:
        yield asp.get_client().stream_processors()
    finally:
        asp.close()


def wait_for(condition, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def fields(processor):
    return {
        "name": processor.name,
        "pipeline": processor.pipeline,
        "options": processor.options,
        "desired_state": processor.desired_state,
    }


@pytest.mark.parametrize("cancel", [True, False])
def test_a_terminated_run_stops_only_what_it_started(asp_workspace, asp, dagster_home, cancel):
    kept = orders_processor(asp_workspace, unique("dg_kept"))
    held = orders_processor(asp_workspace, unique("dg_held"))
    # ``kept`` runs already: the run's plan for it is empty, it starts nothing
    assert dg.materialize(build_asp_processor_assets([kept]), resources={"asp": asp}).success
    starts = asp_workspace.command_counts().get("startStreamProcessor", 0)
    stops = asp_workspace.command_counts().get("stopStreamProcessor", 0)

    resource = resource_for(asp_workspace)
    resource_fields = {
        name: getattr(resource, name)
        for name in ("host", "port", "username", "password", "tls_ca_file")
    }
    arguments = {
        "resource": resource_fields,
        "processors": [fields(kept), fields(held)],
        "cancel": cancel,
    }
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    asp_workspace.set_transition_delay(120.0)  # the start is acknowledged, never takes effect
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "dagster_support.terminated_run", json.dumps(arguments)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for(
                lambda: (
                    asp_workspace.command_counts().get("startStreamProcessor", 0) > starts
                    or process.poll() is not None
                ),
                what="the run to start the held processor",
            )
            assert process.poll() is None, process.communicate()
            instance = dg.DagsterInstance.get()
            (run,) = instance.get_runs(limit=1)
            instance.report_run_canceling(run)
            interrupt_ipc_subprocess(process)
            out, err = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    finally:
        asp_workspace.set_transition_delay(0.0)

    assert process.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1]) == {"status": "CANCELED"}
    states = asp_workspace.processors()
    assert states[kept.name] == "STARTED"  # not started by this run: left alone
    if cancel:
        assert states[held.name] == "STOPPED", err
        assert f"stopping stream processor {held.name!r}, which this run started" in err
    else:  # opted out: no stop sent, its start still pending
        assert asp_workspace.command_counts().get("stopStreamProcessor", 0) == stops
        assert asp_workspace.stats(held.name)["status"] == "starting"
        assert "which this run started" not in err
    with asp_workspace_client(asp) as processors:
        processors.get(held.name).drop()
    assert PASSWORD not in out + err
