"""Declarative deploy: keep the processor defined in ``asp_deploy_processor.json`` as written.

Every run compares the workspace with the file and applies the fewest commands (create,
modify, start or stop); when nothing changed it sends one ``getStreamProcessor`` and stops.
Edit the JSON, and the next run rolls the change out.
"""

from __future__ import annotations

import json
from pathlib import Path

import pendulum
from airflow.sdk import DAG

from airflow_provider_asp.operators.asp import AspDeployProcessorOperator

DEFINITION = json.loads((Path(__file__).parent / "asp_deploy_processor.json").read_text())

with DAG(
    dag_id="asp_deploy",
    description="Keep a stream processor as its JSON definition says",
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["asp", "example"],
) as dag:
    AspDeployProcessorOperator(
        task_id="deploy",
        processor_name=DEFINITION["name"],
        pipeline=DEFINITION["pipeline"],
        tier=DEFINITION.get("options", {}).get("tier"),
        desired_state=DEFINITION.get("state", "STARTED"),
    )
