"""Dagster integration for MongoDB Atlas Stream Processing, on the orchestrator-neutral core
(``asp-core``): the same client, plans, waits, event rules and lineage analysis as the Airflow
provider."""

from dagster_asp.admin import (
    AspAdmin,
    AspConnectionSpec,
    AspWorkspaceSpec,
    asp_delete_connection_op,
    asp_delete_workspace_op,
    asp_deploy_connection_op,
    asp_ensure_workspace_op,
    build_asp_connection_assets,
    build_asp_workspace_asset,
    connection_asset_key,
    workspace_asset_key,
)
from dagster_asp.assets import build_asp_processor_assets, processor_asset_specs
from dagster_asp.checks import (
    DLQ_NOT_GROWING,
    PROCESSOR_RUNNING,
    asp_check_specs,
    check_evaluation,
    check_result,
    evaluate_dlq_not_growing,
    evaluate_processor_running,
    previous_dlq_count,
)
from dagster_asp.components import AspProcessorsComponent
from dagster_asp.ops import asp_drop_processor_op, asp_start_processor_op, asp_stop_processor_op
from dagster_asp.processor import AspProcessor
from dagster_asp.resource import AspWorkspace
from dagster_asp.sensors import (
    build_asp_output_sensor,
    build_asp_state_sensor,
    build_asp_stats_sensor,
)
from dagster_asp.translator import DagsterAspTranslator

__version__ = "0.1.0"

__all__ = [
    "DLQ_NOT_GROWING",
    "PROCESSOR_RUNNING",
    "AspAdmin",
    "AspConnectionSpec",
    "AspProcessor",
    "AspProcessorsComponent",
    "AspWorkspace",
    "AspWorkspaceSpec",
    "DagsterAspTranslator",
    "asp_check_specs",
    "asp_delete_connection_op",
    "asp_delete_workspace_op",
    "asp_deploy_connection_op",
    "asp_drop_processor_op",
    "asp_ensure_workspace_op",
    "asp_start_processor_op",
    "asp_stop_processor_op",
    "build_asp_connection_assets",
    "build_asp_output_sensor",
    "build_asp_processor_assets",
    "build_asp_state_sensor",
    "build_asp_stats_sensor",
    "build_asp_workspace_asset",
    "check_evaluation",
    "check_result",
    "connection_asset_key",
    "evaluate_dlq_not_growing",
    "evaluate_processor_running",
    "previous_dlq_count",
    "processor_asset_specs",
    "workspace_asset_key",
]
