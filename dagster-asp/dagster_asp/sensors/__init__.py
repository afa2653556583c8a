"""Sensors on stream processors: runs on state transitions, runless observations and checks
from stats, runs carrying matching output documents."""

from dagster_asp.sensors.output import build_asp_output_sensor
from dagster_asp.sensors.state import build_asp_state_sensor
from dagster_asp.sensors.stats import build_asp_stats_sensor

__all__ = [
    "build_asp_output_sensor",
    "build_asp_state_sensor",
    "build_asp_stats_sensor",
]
