"""Dagster integration for MongoDB Atlas Stream Processing, on the orchestrator-neutral core
(``asp-core``): the same client, plans, waits, event rules and lineage analysis as the Airflow
provider."""

from dagster_asp.processor import AspProcessor
from dagster_asp.resource import AspWorkspace
from dagster_asp.translator import DagsterAspTranslator

__version__ = "0.1.0"

__all__ = ["AspProcessor", "AspWorkspace", "DagsterAspTranslator"]
