"""Helpers the Dagster package's tests share (never a test module)."""
