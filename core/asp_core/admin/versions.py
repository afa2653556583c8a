"""The dated media types of the Admin API v2 streams endpoints this client calls (the dates
of Atlas's published OpenAPI document, ``openapi/atlas-api-transformed.yaml``)."""

from __future__ import annotations

#: Workspaces (list, create, get, update, delete) and the connection registry.
STREAMS = "2023-02-01"
#: ``POST /streams:withSampleConnections``.
WITH_SAMPLE_CONNECTIONS = "2024-08-05"
#: Processors: create, get, list, modify, delete, ``:start``, ``:stop``.
PROCESSORS = "2024-05-30"
#: ``POST .../processor/{name}:startWith``.
START_WITH = "2025-03-12"
#: ``GET /streams/{tenantName}:downloadOperationalLogs`` (gzip).
OPERATIONAL_LOGS = "2025-03-12"
#: ``GET /streams/{tenantName}/auditLogs`` (gzip).
AUDIT_LOGS = "2023-02-01"


def media_type(version: str, kind: str = "json") -> str:
    """``application/vnd.atlas.<version>+json`` (``kind="gzip"``: ``+gzip``, the logs): the
    ``Accept`` (and body ``Content-Type``)."""
    return f"application/vnd.atlas.{version}+{kind}"
