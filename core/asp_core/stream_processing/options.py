"""Option and result types of the stream processing API: plain data, validated when built.

Nothing here talks to a server. Invalid option values raise
:class:`~pymongo.errors.InvalidOperation` when the object is constructed, so a bad
value never reaches the wire. :mod:`.protocol` turns these objects into command
documents.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bson.timestamp import Timestamp
from pymongo.errors import InvalidOperation

__all__ = [
    "VALID_TIERS",
    "CreateStreamProcessorOptions",
    "GetStreamProcessorSamplesOptions",
    "GetStreamProcessorSamplesResult",
    "GetStreamProcessorStatsOptions",
    "StartStreamProcessorOptions",
    "StreamProcessorInfo",
]

#: The processor tiers a workspace accepts, smallest first.
VALID_TIERS: tuple[str, ...] = ("SP2", "SP5", "SP10", "SP30", "SP50")


def check_tier(tier: str | None) -> None:
    """Raise InvalidOperation unless ``tier`` is None or one of :data:`VALID_TIERS`."""
    if tier is not None and tier not in VALID_TIERS:
        raise InvalidOperation(f"tier must be one of {', '.join(VALID_TIERS)}, not {tier!r}")


def check_count(label: str, value: int | None, *, minimum: int) -> None:
    """Raise InvalidOperation unless ``value`` is None or an int >= ``minimum``."""
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidOperation(f"{label} must be an integer, not {value!r}")
    if value < minimum:
        bound = "positive" if minimum == 1 else "non-negative"
        raise InvalidOperation(f"{label} must be {bound}, not {value}")


def check_document(label: str, value: Mapping[str, Any] | None) -> None:
    """Raise InvalidOperation unless ``value`` is None or a mapping."""
    if value is not None and not isinstance(value, Mapping):
        raise InvalidOperation(f"{label} must be a document, not {value!r}")


@dataclass(frozen=True)
class CreateStreamProcessorOptions:
    """Options of ``createStreamProcessor`` (sent under ``options``).

    :param dlq: dead letter queue ``{connectionName, db, coll}``.
    :param stream_meta_field_name: name of the stream metadata field.
    :param tier: processor tier, one of :data:`VALID_TIERS`.
    :param failover: enable failover (sent as the boolean ``failover``).
    """

    dlq: Mapping[str, Any] | None = None
    stream_meta_field_name: str | None = None
    tier: str | None = None
    failover: bool | None = None

    def __post_init__(self) -> None:
        check_document("dlq", self.dlq)
        check_tier(self.tier)


@dataclass(frozen=True)
class StartStreamProcessorOptions:
    """Options of ``startStreamProcessor``.

    ``workers`` is sent at the top level of the command; the rest under ``options``.
    ``start_after`` and ``start_at_operation_time`` exclude each other.
    """

    workers: int | None = None
    clear_checkpoints: bool | None = None
    start_at_operation_time: Timestamp | None = None
    start_after: Mapping[str, Any] | None = None
    tier: str | None = None
    enable_auto_scaling: bool | None = None
    failover: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        check_count("workers", self.workers, minimum=1)
        check_tier(self.tier)
        check_document("start_after", self.start_after)
        check_document("failover", self.failover)
        if self.start_at_operation_time is not None and not isinstance(
            self.start_at_operation_time, Timestamp
        ):
            raise InvalidOperation("start_at_operation_time must be a bson.timestamp.Timestamp")
        if self.start_after is not None and self.start_at_operation_time is not None:
            raise InvalidOperation("start_after and start_at_operation_time are mutually exclusive")


@dataclass(frozen=True)
class GetStreamProcessorStatsOptions:
    """Options of ``getStreamProcessorStats`` (sent under ``options``).

    :param scale: unit divisor for sizes (1 = bytes, 1024 = KiB); positive.
    :param verbose: include per-operator statistics.
    """

    scale: int | None = None
    verbose: bool | None = None

    def __post_init__(self) -> None:
        check_count("scale", self.scale, minimum=1)


@dataclass(frozen=True)
class GetStreamProcessorSamplesOptions:
    """Arguments of one sample fetch.

    Without ``cursor_id`` the fetch opens a sample cursor (``startSampleStreamProcessor``,
    with ``limit``); with it, the fetch continues that cursor
    (``getMoreSampleStreamProcessor``, with ``batch_size``). All values are non-negative;
    an explicit ``cursor_id`` of 0 (an exhausted cursor) is refused when the fetch is made.
    """

    cursor_id: int | None = None
    limit: int | None = None
    batch_size: int | None = None

    def __post_init__(self) -> None:
        check_count("cursor_id", self.cursor_id, minimum=0)
        check_count("limit", self.limit, minimum=0)
        check_count("batch_size", self.batch_size, minimum=0)


@dataclass(frozen=True)
class GetStreamProcessorSamplesResult:
    """What one sample fetch returned: the cursor id to continue with and the documents.

    ``cursor_id`` 0 means the cursor is exhausted and must not be fetched again.
    """

    cursor_id: int
    documents: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exhausted(self) -> bool:
        """Whether the server closed the cursor (``cursor_id == 0``)."""
        return self.cursor_id == 0


def _opt(doc: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    """``doc[key]`` if present and of ``kind``, else None."""
    value = doc.get(key)
    return value if isinstance(value, kind) else None


def _opt_int(doc: Mapping[str, Any], key: str) -> int | None:
    value = doc.get(key)
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class StreamProcessorInfo:
    """A stream processor as ``getStreamProcessor`` or ``listStreamProcessors`` describes it.

    Every typed field is optional except ``name`` and ``state`` (empty strings when the
    server leaves them out). ``state`` is an open string: compare it, do not enumerate it.
    ``raw`` holds the processor document exactly as received, including fields this class
    does not model and the internal ``tenantID``/``projectId``/``processorId``, which no
    typed field exposes.
    """

    name: str
    state: str
    pipeline: list[dict[str, Any]] = field(default_factory=list)
    id: str | None = None
    pipeline_version: int | None = None
    tier: str | None = None
    dlq: dict[str, Any] | None = None
    stream_meta_field_name: str | None = None
    enable_auto_scaling: bool | None = None
    failover_enabled: bool | None = None
    active_region: str | None = None
    workspace_default_region: str | None = None
    last_modified_at: datetime.datetime | None = None
    modified_by: str | None = None
    last_state_change: datetime.datetime | None = None
    last_heartbeat: datetime.datetime | None = None
    has_started: bool | None = None
    stats: dict[str, Any] | None = None
    error_msg: str | None = None
    error_code: int | None = None
    error_retryable: bool | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_response(cls, response: Mapping[str, Any]) -> StreamProcessorInfo:
        """Parse a ``getStreamProcessor`` reply (flat, or wrapped in ``result``) or a list item."""
        wrapped = response.get("result")
        doc: Mapping[str, Any] = wrapped if isinstance(wrapped, Mapping) else response
        ident = doc.get("id", doc.get("_id"))
        pipeline = doc.get("pipeline")
        date = datetime.datetime
        return cls(
            name=str(doc.get("name", "")),
            state=str(doc.get("state", "")),
            pipeline=list(pipeline) if isinstance(pipeline, list) else [],
            id=None if ident is None else str(ident),
            pipeline_version=_opt_int(doc, "pipelineVersion"),
            tier=_opt(doc, "tier", str),
            dlq=_opt(doc, "dlq", dict),
            stream_meta_field_name=_opt(doc, "streamMetaFieldName", str),
            enable_auto_scaling=_opt(doc, "enableAutoScaling", bool),
            failover_enabled=_opt(doc, "failoverEnabled", bool),
            active_region=_opt(doc, "activeRegion", str),
            workspace_default_region=_opt(doc, "workspaceDefaultRegion", str),
            last_modified_at=_opt(doc, "lastModifiedAt", date) or _opt(doc, "lastModified", date),
            modified_by=_opt(doc, "modifiedBy", str),
            last_state_change=_opt(doc, "lastStateChange", date),
            last_heartbeat=_opt(doc, "lastHeartbeat", date),
            has_started=_opt(doc, "hasStarted", bool),
            stats=_opt(doc, "stats", dict),
            error_msg=_opt(doc, "errorMsg", str),
            error_code=_opt_int(doc, "errorCode"),
            error_retryable=_opt(doc, "errorRetryable", bool),
            raw=dict(doc),
        )
