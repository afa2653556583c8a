"""Wait, without holding a worker, for a processor's output to show a document that matters.

``AspProcessorSampleSensor`` reads the processor's sample cursor until a document matches the
MongoDB query in ``match``; the matching documents go to XCom and on to a ``@task``. The
deploy is a setup and the drop its teardown: the processor goes whatever happened between.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_asp.operators.asp import (
    AspDeployProcessorOperator,
    AspDropProcessorOperator,
)
from airflow_provider_asp.sensors.asp import AspProcessorSampleSensor

NAME = "solar_watch"
PIPELINE = [
    {"$source": {"connectionName": "sample_stream_solar"}},
    {"$emit": {"connectionName": "__testLog"}},
]

with DAG(
    dag_id="asp_watch",
    description="Wait for a solar panel running hot, then act on it",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["asp", "example"],
) as dag:
    deploy = AspDeployProcessorOperator(
        task_id="deploy", processor_name=NAME, pipeline=PIPELINE, desired_state="STARTED"
    )
    hot_panel = AspProcessorSampleSensor(
        task_id="wait_for_hot_panel",
        processor_name=NAME,
        match={"obs.temp": {"$gte": 25}, "obs.watts": {"$gte": 200}},
        min_documents=1,
        deferrable=True,
        poke_interval=2,
        timeout=600,
    )

    @task
    def report(documents: Any) -> str:
        """Hand the matching documents (a list, from XCom) to whatever should act on them."""
        doc = documents[0]
        message = f"{doc['device_id']} runs hot: {doc['obs']['temp']} C at {doc['obs']['watts']} W"
        print(message)
        return message

    drop = AspDropProcessorOperator(task_id="drop", processor_name=NAME)

    deploy >> hot_panel
    report(hot_panel.output) >> drop.as_teardown(setups=deploy)
