"""Dagster integration for MongoDB Atlas Stream Processing, on the orchestrator-neutral core
(``asp-core``): the same client, plans, waits, event rules and lineage analysis as the Airflow
provider."""

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
    "AspProcessor",
    "AspProcessorsComponent",
    "AspWorkspace",
    "DagsterAspTranslator",
    "asp_check_specs",
    "asp_drop_processor_op",
    "asp_start_processor_op",
    "asp_stop_processor_op",
    "build_asp_output_sensor",
    "build_asp_processor_assets",
    "build_asp_state_sensor",
    "build_asp_stats_sensor",
    "check_evaluation",
    "check_result",
    "evaluate_dlq_not_growing",
    "evaluate_processor_running",
    "previous_dlq_count",
    "processor_asset_specs",
]
