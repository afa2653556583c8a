"""An example code location: the workspace and its ``cluster0`` connection (the Admin API),
one processor on the solar sample source as assets, with its checks, the three sensors, and
the ``asp`` and ``asp_admin`` resources from environment variables.

``ASP_HOST``, ``ASP_PORT``, ``ASP_USERNAME``, ``ASP_PASSWORD`` and ``ASP_TLS_CA_FILE`` (the
emulator's CA; empty for Atlas), and ``ASP_ADMIN_URL`` (``https://cloud.mongodb.com`` for
Atlas), ``ASP_ADMIN_PROJECT_ID``, ``ASP_ADMIN_CLIENT_ID``, ``ASP_ADMIN_CLIENT_SECRET`` are read
when a run or a sensor tick needs them; ``ASP_WORKSPACE_NAME`` (default ``emulator``) names
the workspace. Loading this module sends nothing.
``dagster dev -m dagster_asp.examples.definitions -h 127.0.0.1``.
"""

import os

import dagster as dg

from dagster_asp import (
    AspAdmin,
    AspConnectionSpec,
    AspProcessor,
    AspWorkspace,
    AspWorkspaceSpec,
    asp_start_processor_op,
    build_asp_connection_assets,
    build_asp_output_sensor,
    build_asp_processor_assets,
    build_asp_state_sensor,
    build_asp_stats_sensor,
    build_asp_workspace_asset,
)

#: The workspace, and the Atlas cluster the processor writes to, as assets (the Admin API).
WORKSPACE = AspWorkspaceSpec(os.environ.get("ASP_WORKSPACE_NAME", "emulator"))
workspace_asset = build_asp_workspace_asset(WORKSPACE)
connection_assets = build_asp_connection_assets(
    WORKSPACE.name,
    [AspConnectionSpec("cluster0", {"type": "Cluster", "clusterName": "Cluster0"})],
    deps=[workspace_asset.key],
    timeout=600,
    poll_interval=1,
)

#: Readings above 200 W go to ``cluster0.energy.high``; what fails goes to the DLQ.
SOLAR_HIGH = AspProcessor(
    "solar_high",
    [
        {"$source": {"connectionName": "sample_stream_solar"}},
        {"$match": {"obs.watts": {"$gt": 200}}},
        {"$merge": {"into": {"connectionName": "cluster0", "db": "energy", "coll": "high"}}},
    ],
    options={"dlq": {"connectionName": "cluster0", "db": "energy", "coll": "high_dlq"}},
)
PROCESSORS = [SOLAR_HIGH]

processor_assets = build_asp_processor_assets(PROCESSORS, timeout=120, poll_interval=0.5)


@dg.job(
    config={
        "ops": {
            "asp_start_processor_op": {
                "config": {"processor_name": SOLAR_HIGH.name, "timeout": 120, "poll_interval": 1}
            }
        }
    },
    description="Starts solar_high again after a failure (the state sensor's target).",
)
def remediate() -> None:
    asp_start_processor_op()


@dg.op(config_schema=dg.Permissive())
def consume_high_readings(context: dg.OpExecutionContext) -> int:
    """Takes a batch of sampled output documents (the output sensor's run config)."""
    documents = context.op_config.get("documents", [])
    context.log.info("%d readings above 250 W", len(documents))
    return len(documents)


@dg.job(description="Consumes batches of solar_high's output (the output sensor's target).")
def consume_high() -> None:
    consume_high_readings()


state_sensor = build_asp_state_sensor(
    target=remediate, processor_names=[SOLAR_HIGH.name], states=["FAILED"]
)
stats_sensor = build_asp_stats_sensor(
    processors=PROCESSORS, checks=["processor_running", "dlq_not_growing", "has_throughput"]
)
output_sensor = build_asp_output_sensor(
    target=consume_high,
    processor_names=[SOLAR_HIGH.name],
    op_name="consume_high_readings",
    match={"obs.watts": {"$gt": 250}},
    max_batch=20,
    max_wait=2.0,
)

asp = AspWorkspace(
    host=dg.EnvVar("ASP_HOST"),
    port=dg.EnvVar.int("ASP_PORT"),
    username=dg.EnvVar("ASP_USERNAME"),
    password=dg.EnvVar("ASP_PASSWORD"),
    tls_ca_file=dg.EnvVar("ASP_TLS_CA_FILE"),
    server_selection_timeout_ms=5000,
)

asp_admin = AspAdmin(
    project_id=dg.EnvVar("ASP_ADMIN_PROJECT_ID"),
    client_id=dg.EnvVar("ASP_ADMIN_CLIENT_ID"),
    client_secret=dg.EnvVar("ASP_ADMIN_CLIENT_SECRET"),
    base_url=dg.EnvVar("ASP_ADMIN_URL"),
    ca_file=dg.EnvVar("ASP_TLS_CA_FILE"),
)

defs = dg.Definitions(
    assets=[workspace_asset, *connection_assets, *processor_assets],
    jobs=[remediate, consume_high],
    sensors=[state_sensor, stats_sensor, output_sensor],
    resources={"asp": asp, "asp_admin": asp_admin},
)
