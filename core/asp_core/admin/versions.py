"""The dated media types of the Admin API v2 streams endpoints this client calls."""

from __future__ import annotations

#: Workspaces (list, create, get, update, delete) and the connection registry.
STREAMS = "2023-02-01"
#: ``POST /streams:withSampleConnections``.
WITH_SAMPLE_CONNECTIONS = "2024-08-05"


def media_type(version: str) -> str:
    """``application/vnd.atlas.<version>+json``: the ``Accept`` (and body ``Content-Type``)."""
    return f"application/vnd.atlas.{version}+json"
