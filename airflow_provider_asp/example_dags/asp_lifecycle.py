"""A stream processor's whole life: create, start, wait until running, sample, stats, stop.

``create`` is a setup and the drop at the end its teardown (Airflow's setup/teardown): the
drop runs once the create succeeded, even when a task between them failed, so no processor
is left behind, and the run's state ignores it, so a failure is never hidden behind a clean
drop. Set ``[operators] default_deferrable`` (``AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE=True``)
to wait in the triggerer instead of a worker slot.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_provider_asp.operators.asp import (
    AspCreateProcessorOperator,
    AspDropProcessorOperator,
    AspGetProcessorStatsOperator,
    AspSampleProcessorOperator,
    AspStartProcessorOperator,
    AspStopProcessorOperator,
)
from airflow_provider_asp.sensors.asp import AspProcessorStateSensor

PIPELINE = [
    {"$source": {"connectionName": "sample_stream_solar"}},
    {"$match": {"obs.watts": {"$gte": 100}}},
    {"$addFields": {"kilowatts": {"$divide": ["$obs.watts", 1000]}}},
    {"$emit": {"connectionName": "__testLog"}},
]

with DAG(
    dag_id="asp_lifecycle",
    description="Create, start, watch, sample, stop and drop a stream processor",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"processor_name": "solar_lifecycle"},
    # Safe: every operator looks before it acts, so a retry never repeats a command.
    default_args={"retries": 2, "retry_delay": timedelta(seconds=2)},
    tags=["asp", "example"],
) as dag:
    name = "{{ params.processor_name }}"
    create = AspCreateProcessorOperator(
        task_id="create", processor_name=name, pipeline=PIPELINE, if_exists="replace"
    )
    start = AspStartProcessorOperator(
        task_id="start", processor_name=name, wait_for_completion=False
    )
    running = AspProcessorStateSensor(
        task_id="wait_until_running",
        processor_name=name,
        target_states=["STARTED"],
        poke_interval=2,
        timeout=300,
    )
    sample = AspSampleProcessorOperator(task_id="sample", processor_name=name, limit=5, timeout=60)
    stats = AspGetProcessorStatsOperator(task_id="stats", processor_name=name)
    stop = AspStopProcessorOperator(task_id="stop", processor_name=name)
    drop = AspDropProcessorOperator(task_id="drop", processor_name=name)

    create >> start >> running >> sample >> stats >> stop >> drop.as_teardown(setups=create)
