"""A whole stack from nothing, and back to nothing: a workspace with the sample source, its
connection registry (an HTTPS endpoint; a Kafka cluster whose credentials come from the
Airflow connection ``asp_stack_kafka``, never from this file), a processor reading the
sample into Kafka, and a sample of its output. Teardown tasks then drop the processor,
delete the connections and the workspace: each runs once its setup succeeded, even when a
task between them failed, and the run's state ignores them. The workspace's setup only
creates it (``wait_for_completion=False``; a sensor waits for its sample connection), so
it succeeds whenever the workspace exists and the workspace's teardown always follows.

Connections (JSON in ``AIRFLOW_CONN_<ID>``, or any secret backend):

- ``asp_admin_default`` (``asp_admin``): the project's Admin API, a service account or an
  API key with the Project Stream Processing Owner role.
- ``asp_stack`` (``asp``): the database user and TLS settings of the workspace, without a
  host: ``{"admin_conn_id": "asp_admin_default", "workspace_name": "asp-stack"}`` in its
  extra makes the hook read the hostname from the Admin API once the workspace exists.
- ``asp_stack_kafka``: the Kafka user (login) and password.

Set ``[operators] default_deferrable`` to wait in the triggerer instead of a worker slot.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_provider_asp.operators.admin import (
    AspCreateWorkspaceOperator,
    AspDeleteConnectionOperator,
    AspDeleteWorkspaceOperator,
    AspDeployConnectionOperator,
)
from airflow_provider_asp.operators.asp import (
    AspCreateProcessorOperator,
    AspDropProcessorOperator,
    AspSampleProcessorOperator,
    AspStartProcessorOperator,
)
from airflow_provider_asp.sensors.admin import AspConnectionReadySensor

WORKSPACE = "asp-stack"
PROCESSOR = "solar_to_kafka"
HTTPS = {"type": "Https", "url": "https://alerts.example.com/solar"}
KAFKA = {
    "type": "Kafka",
    "bootstrapServers": "broker-1.example.com:9092,broker-2.example.com:9092",
    "authentication": {"mechanism": "SCRAM-256"},  # username and password: asp_stack_kafka
    "security": {"protocol": "SASL_SSL"},
}
PIPELINE = [
    {"$source": {"connectionName": "sample_stream_solar"}},
    {"$match": {"obs.watts": {"$gte": 100}}},
    {"$emit": {"connectionName": "solar_kafka", "topic": "solar"}},
]

with DAG(
    dag_id="asp_stack",
    description="Workspace, connections and a processor from nothing, then all torn down",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    # Safe: every operator looks before it acts, so a retry never repeats a write.
    default_args={"retries": 2, "retry_delay": timedelta(seconds=2)},
    tags=["asp", "example"],
) as dag:
    workspace = AspCreateWorkspaceOperator(
        task_id="create_workspace",
        workspace_name=WORKSPACE,
        tier="SP10",
        sample_connections=True,
        wait_for_completion=False,  # a failed wait must not fail the setup: sample_ready
    )
    sample_ready = AspConnectionReadySensor(
        task_id="sample_ready",
        workspace_name=WORKSPACE,
        connection_name="sample_stream_solar",
        poke_interval=2,
        timeout=600,
    )
    https = AspDeployConnectionOperator(
        task_id="deploy_https",
        workspace_name=WORKSPACE,
        connection_name="alerts",
        definition=HTTPS,
        wait_for_completion=False,
    )
    https_ready = AspConnectionReadySensor(
        task_id="https_ready",
        workspace_name=WORKSPACE,
        connection_name="alerts",
        poke_interval=2,
        timeout=600,
    )
    kafka = AspDeployConnectionOperator(
        task_id="deploy_kafka",
        workspace_name=WORKSPACE,
        connection_name="solar_kafka",
        definition=KAFKA,
        secrets_conn_id="asp_stack_kafka",
    )
    create = AspCreateProcessorOperator(
        task_id="create_processor",
        asp_conn_id="asp_stack",
        processor_name=PROCESSOR,
        pipeline=PIPELINE,
    )
    start = AspStartProcessorOperator(
        task_id="start_processor", asp_conn_id="asp_stack", processor_name=PROCESSOR
    )
    sample = AspSampleProcessorOperator(
        task_id="sample", asp_conn_id="asp_stack", processor_name=PROCESSOR, limit=5
    )
    drop = AspDropProcessorOperator(
        task_id="drop_processor", asp_conn_id="asp_stack", processor_name=PROCESSOR
    )
    delete_kafka = AspDeleteConnectionOperator(
        task_id="delete_kafka", workspace_name=WORKSPACE, connection_name="solar_kafka"
    )
    delete_https = AspDeleteConnectionOperator(
        task_id="delete_https", workspace_name=WORKSPACE, connection_name="alerts"
    )
    delete_workspace = AspDeleteWorkspaceOperator(
        task_id="delete_workspace", workspace_name=WORKSPACE
    )

    workspace >> [sample_ready, https, kafka]
    https >> https_ready
    [sample_ready, https_ready, kafka] >> create >> start >> sample
    sample >> drop.as_teardown(setups=create)
    drop >> delete_kafka.as_teardown(setups=kafka)
    drop >> delete_https.as_teardown(setups=https)
    [delete_kafka, delete_https] >> delete_workspace.as_teardown(setups=workspace)
