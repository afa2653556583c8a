"""DAGs that start when a stream processor does something (Airflow's event-driven scheduling).

- ``asp_event_driven_deploy`` (run it by hand) deploys the processor ``asp_event_driven``: solar
  panel readings of 300 W or more, read from the connection named by the ``source`` param
  (``sample_stream_solar`` unless told otherwise).
- ``asp_event_driven`` is scheduled on the asset ``asp_event_driven_hot_panels``. Its watcher,
  an ``AspProcessorOutputEventTrigger`` running in the triggerer, follows the processor's
  output and turns each batch of readings of 400 W or more into an asset event; the DAG reads
  the readings from the events that triggered its run.
- ``asp_event_driven_remediation`` is scheduled on ``asp_event_driven_failures``, whose
  watcher, an ``AspProcessorStateEventTrigger``, tells each time the processor FAILS; the DAG
  reports the server's ``errorMsg`` and ``errorCode`` and restarts the processor when the
  server calls the error retryable.
- ``asp_event_driven_stop`` (run it by hand) stops and drops the processor. Pause the two
  scheduled DAGs as well to stop their watchers (they keep watching for the processor).

The watchers run while their DAG is unpaused, in a triggerer started without ``--queues``.
One run may carry several events (all those since the previous run): loop over them.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher, Param, task

from airflow_provider_asp.operators.asp import (
    AspDeployProcessorOperator,
    AspDropProcessorOperator,
    AspStartProcessorOperator,
    AspStopProcessorOperator,
)
from airflow_provider_asp.triggers.events import (
    AspProcessorOutputEventTrigger,
    AspProcessorStateEventTrigger,
)

PROCESSOR = "asp_event_driven"
START = pendulum.datetime(2026, 1, 1, tz="UTC")

hot_panels = Asset(
    "asp_event_driven_hot_panels",
    watchers=[
        AssetWatcher(
            name="asp_event_driven_hot_panels",
            trigger=AspProcessorOutputEventTrigger(
                processor_name=PROCESSOR,
                match={"obs.watts": {"$gte": 400}},
                max_batch=100,  # readings per asset event at most
                max_wait=5,  # seconds a batch waits for more readings
            ),
        )
    ],
)
failures = Asset(
    "asp_event_driven_failures",
    watchers=[
        AssetWatcher(
            name="asp_event_driven_failures",
            trigger=AspProcessorStateEventTrigger(processor_name=PROCESSOR, states=["FAILED"]),
        )
    ],
)

with DAG(
    dag_id="asp_event_driven_deploy",
    description="Deploy the processor whose output and failures start the other two DAGs",
    schedule=None,
    start_date=START,
    catchup=False,
    params={"source": Param("sample_stream_solar", type="string")},
    tags=["asp", "example"],
):
    AspDeployProcessorOperator(
        task_id="deploy",
        processor_name=PROCESSOR,
        pipeline=[
            {"$source": {"connectionName": "{{ params.source }}"}},
            {"$match": {"obs.watts": {"$gte": 300}}},
            {"$emit": {"connectionName": "__testLog"}},
        ],
        desired_state="STARTED",
    )

with DAG(
    dag_id="asp_event_driven",
    description="Act on solar panels producing 400 W or more, as the processor sees them",
    schedule=[hot_panels],
    start_date=START,
    catchup=False,
    tags=["asp", "example"],
):

    @task
    def handle_hot_panels(triggering_asset_events: Any = None) -> dict[str, Any]:
        """The readings of every event of this run (several events may share a run)."""
        readings = []
        for event in triggering_asset_events[hot_panels]:
            payload = event.extra["payload"]
            readings.extend(payload["documents"])
            if payload["oversized"]:
                print(f"{payload['oversized']} reading(s) too large to carry were left out")
        devices = sorted({reading.get("device_id", "?") for reading in readings})
        print(f"{len(readings)} hot reading(s) from {', '.join(devices) or 'no device'}")
        return {"count": len(readings), "devices": devices, "readings": readings}

    handle_hot_panels()

with DAG(
    dag_id="asp_event_driven_remediation",
    description="Report a failed processor and restart it when the error is retryable",
    schedule=[failures],
    start_date=START,
    catchup=False,
    tags=["asp", "example"],
):

    @task
    def report_failure(triggering_asset_events: Any = None) -> dict[str, Any]:
        """The latest failure of this run's events, in the server's words."""
        told = [event.extra["payload"] for event in triggering_asset_events[failures]]
        last = told[-1]
        print(
            f"Stream processor {last['processor_name']!r} FAILED at {last['last_state_change']}: "
            f"{last['error_msg']} (errorCode {last['error_code']}, "
            f"{'retryable' if last['error_retryable'] else 'not retryable'})"
        )
        return {**last, "failures": len(told)}

    @task.short_circuit
    def retryable(failure: Any) -> bool:
        """Restart only what the server says a restart may fix."""
        return bool(failure["error_retryable"])

    restart = AspStartProcessorOperator(task_id="restart", processor_name=PROCESSOR)
    retryable(report_failure()) >> restart

with DAG(
    dag_id="asp_event_driven_stop",
    description="Stop and drop the processor the deploy DAG made",
    schedule=None,
    start_date=START,
    catchup=False,
    tags=["asp", "example"],
):
    # Its drop is its work, not a cleanup: no setup/teardown here.
    (
        AspStopProcessorOperator(task_id="stop", processor_name=PROCESSOR, missing_ok=True)
        >> AspDropProcessorOperator(task_id="drop", processor_name=PROCESSOR)
    )
