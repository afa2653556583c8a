"""The ASP commands on the wire: a command document to a typed request, a result to a reply.

Pure: no state, no I/O. A parser checks what a command document says by itself (types,
required fields, one of two placements for options) and raises :class:`CommandError` as the
server does; what needs the workspace (does the processor exist, is the tier within the
maximum, does the connection exist) is checked by the registry, after. A reply builder turns
a result into the reply document, in the chosen :data:`ReplyShape` where the shapes differ.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from bson.int64 import Int64
from bson.timestamp import Timestamp

from asp_emulator.errors import (
    BSON_OBJECT_TOO_LARGE,
    FAILED_TO_PARSE,
    PROCESSOR_INVALID_OPTIONS,
    CommandError,
)
from asp_emulator.options import TIERS

if TYPE_CHECKING:
    from asp_emulator.processors import Processor

ReplyShape = Literal["live", "spec"]
"""``"live"``: what the service answers (info wrapped in ``result``, batches under
``messages``); ``"spec"``: the draft spec (flat info, ``nextBatch``)."""
REPLY_SHAPES: tuple[ReplyShape, ...] = ("live", "spec")

Document = dict[str, Any]
Reply = dict[str, Any]


# -- reading arguments ------------------------------------------------------------------
def document(command: Mapping[str, Any]) -> Document:
    """The command as it came: for handshake and authentication steps, which read their
    own fields (SCRAM payloads, client metadata)."""
    return dict(command)


def processor_name(command: Mapping[str, Any]) -> str:
    """The processor name: the value of the command's first key."""
    key = next(iter(command), "")
    name = command.get(key)
    if not isinstance(name, str) or not name.strip():
        raise CommandError(FAILED_TO_PARSE, f"{key}: the processor name must be a non-empty string")
    return name


def option(command: Mapping[str, Any], key: str) -> Any:
    """An option given at the top level or under ``options`` (clients disagree on placement)."""
    options = command.get("options")
    if isinstance(options, Mapping) and key in options:
        return options[key]
    return command.get(key)


def check_type(key: str, value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    """``value`` if it is None or a ``kind`` (booleans only where ``kind`` is bool)."""
    if value is not None and (
        not isinstance(value, kind) or isinstance(value, bool) != (kind is bool)
    ):
        raise CommandError(PROCESSOR_INVALID_OPTIONS, f"option {key} must be {what}")
    return value


def positive_int(key: str, value: Any, *, allow_zero: bool = False) -> int | None:
    """``value`` as an int (an integral double is accepted), None when absent."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < (0 if allow_zero else 1):
        bound = "a non-negative integer" if allow_zero else "a positive integer"
        raise CommandError(PROCESSOR_INVALID_OPTIONS, f"option {key} must be {bound}")
    return int(value)


def tier_option(value: Any) -> str | None:
    """A tier option: one of SP2..SP50 (the workspace's maximum is the registry's check)."""
    if value is None:
        return None
    if value not in TIERS:
        raise CommandError(
            PROCESSOR_INVALID_OPTIONS,
            f"invalid tier {value!r}: expected one of {', '.join(TIERS)}",
        )
    return str(value)


def dlq_option(value: Any) -> dict[str, Any] | None:
    """A ``dlq`` option: ``{connectionName, db, coll}`` (None or ``{}``: no DLQ)."""
    if value is None or value == {}:
        return None
    if not isinstance(value, Mapping) or not all(
        isinstance(value.get(k), str) and value.get(k) for k in ("connectionName", "db", "coll")
    ):
        raise CommandError(
            PROCESSOR_INVALID_OPTIONS, "option dlq must be {connectionName, db, coll}"
        )
    return dict(value)


def options_document(value: Any) -> Mapping[str, Any]:
    """The ``options`` document (absent: empty)."""
    options = value or {}
    if not isinstance(options, Mapping):
        raise CommandError(PROCESSOR_INVALID_OPTIONS, "options must be a document")
    return options


# -- requests ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Named:
    """A command on one processor with no other argument (stop, drop, get)."""

    name: str


@dataclass(frozen=True)
class Create:
    """``createStreamProcessor``; ``pipeline`` is the stages as sent (the registry compiles
    them)."""

    name: str
    pipeline: Any
    dlq: dict[str, Any] | None
    tier: str | None
    stream_meta_field_name: str | None
    failover: bool | None


@dataclass(frozen=True)
class Start:
    """``startStreamProcessor``."""

    name: str
    workers: int | None
    tier: str | None
    clear_checkpoints: bool
    enable_auto_scaling: bool
    start_at_operation_time: Timestamp | None
    start_after: Mapping[str, Any] | None


@dataclass(frozen=True)
class Modify:
    """``modifyStreamProcessor``; ``dlq_given`` with ``dlq=None`` removes the DLQ."""

    name: str
    new_name: str | None
    resume_from_checkpoint: bool
    tier: str | None
    dlq_given: bool
    dlq: dict[str, Any] | None
    pipeline: Any | None


@dataclass(frozen=True)
class Stats:
    """``getStreamProcessorStats``."""

    name: str
    scale: int
    verbose: bool


@dataclass(frozen=True)
class StartSample:
    """``startSampleStreamProcessor``."""

    name: str
    limit: int | None


@dataclass(frozen=True)
class GetMoreSample:
    """``getMoreSampleStreamProcessor``."""

    name: str
    cursor_id: int
    batch_size: int | None


@dataclass(frozen=True)
class Process:
    """``processStreamProcessor``: an ephemeral processor's stages and options."""

    pipeline: Any
    limit: int | None
    dlq: dict[str, Any] | None


@dataclass(frozen=True)
class Listing:
    """``listStreamProcessors`` and ``listStreamConnections``: a MongoDB query on the items."""

    filter: Document


@dataclass(frozen=True)
class NoArguments:
    """A command whose document says nothing more (``listWorkspaceDefaults``)."""


# -- parsers ----------------------------------------------------------------------------
def parse_named(command: Mapping[str, Any]) -> Named:
    """stop, drop, get."""
    return Named(processor_name(command))


def parse_create(command: Mapping[str, Any]) -> Create:
    """``createStreamProcessor``: its options only under ``options``."""
    name = processor_name(command)
    if "pipeline" not in command:
        raise CommandError(FAILED_TO_PARSE, "createStreamProcessor requires a pipeline")
    options = options_document(command.get("options"))
    return Create(
        name,
        command["pipeline"],
        dlq_option(options.get("dlq")),
        tier_option(options.get("tier")),
        check_type("streamMetaFieldName", options.get("streamMetaFieldName"), str, "a string")
        or None,
        check_type("failover", options.get("failover"), bool, "a boolean"),
    )


def parse_start(command: Mapping[str, Any]) -> Start:
    """``startStreamProcessor``."""
    name = processor_name(command)
    workers = positive_int("workers", option(command, "workers"))
    tier = tier_option(option(command, "tier"))
    clear = check_type("clearCheckpoints", option(command, "clearCheckpoints"), bool, "a boolean")
    auto = check_type("enableAutoScaling", option(command, "enableAutoScaling"), bool, "a boolean")
    at_time = check_type(
        "startAtOperationTime", option(command, "startAtOperationTime"), Timestamp, "a Timestamp"
    )
    after = check_type("startAfter", option(command, "startAfter"), Mapping, "a document")
    if at_time is not None and after is not None:
        raise CommandError(
            PROCESSOR_INVALID_OPTIONS, "startAfter and startAtOperationTime are mutually exclusive"
        )
    return Start(name, workers, tier, bool(clear), bool(auto), at_time, after)


def parse_modify(command: Mapping[str, Any]) -> Modify:
    """``modifyStreamProcessor``: at least one change; ``resumeFromCheckpoint`` defaults to
    true."""
    name = processor_name(command)
    new_name = check_type("name", option(command, "name"), str, "a string")
    resume = check_type(
        "resumeFromCheckpoint", option(command, "resumeFromCheckpoint"), bool, "a boolean"
    )
    tier = tier_option(option(command, "tier"))
    dlq_given = option(command, "dlq") is not None
    dlq = dlq_option(option(command, "dlq")) if dlq_given else None
    stages = option(command, "pipeline")
    if stages is None and resume is None and not (new_name or tier or dlq_given):
        raise CommandError(FAILED_TO_PARSE, "modifyStreamProcessor: nothing to modify")
    return Modify(name, new_name, resume is not False, tier, dlq_given, dlq, stages)


def parse_stats(command: Mapping[str, Any]) -> Stats:
    """``getStreamProcessorStats``: ``scale`` defaults to 1."""
    name = processor_name(command)
    scale = positive_int("scale", option(command, "scale")) or 1
    verbose = check_type("verbose", option(command, "verbose"), bool, "a boolean")
    return Stats(name, scale, bool(verbose))


def parse_start_sample(command: Mapping[str, Any]) -> StartSample:
    """``startSampleStreamProcessor``."""
    name = processor_name(command)
    return StartSample(name, positive_int("limit", option(command, "limit"), allow_zero=True))


def parse_get_more_sample(command: Mapping[str, Any]) -> GetMoreSample:
    """``getMoreSampleStreamProcessor``: ``cursorId`` (int32, int64 or integral double; the
    old spelling ``cursorID`` too)."""
    name = processor_name(command)
    raw_id = command.get("cursorId", command.get("cursorID"))
    if isinstance(raw_id, float) and raw_id.is_integer():
        raw_id = int(raw_id)
    if not isinstance(raw_id, int) or isinstance(raw_id, bool) or raw_id <= 0:
        raise CommandError(
            FAILED_TO_PARSE, "getMoreSampleStreamProcessor requires a positive cursorId"
        )
    batch_size = positive_int("batchSize", command.get("batchSize"), allow_zero=True)
    return GetMoreSample(name, int(raw_id), batch_size)


def parse_process(command: Mapping[str, Any]) -> Process:
    """``processStreamProcessor``: the stages are the command's value."""
    options = options_document(command.get("options"))
    limit = positive_int("limit", options.get("limit"), allow_zero=True)
    return Process(command.get("processStreamProcessor"), limit, dlq_option(options.get("dlq")))


def parse_listing(command: Mapping[str, Any]) -> Listing:
    """The ``filter`` of a list command (absent: everything)."""
    value = command.get("filter")
    if value is None:
        return Listing({})
    if not isinstance(value, Mapping):
        raise CommandError(FAILED_TO_PARSE, "filter must be a document")
    return Listing(dict(value))


def parse_no_arguments(command: Mapping[str, Any]) -> NoArguments:
    """Nothing to read."""
    return NoArguments()


# -- replies ----------------------------------------------------------------------------
def ok() -> Reply:
    """The reply of a command that only succeeds."""
    return {"ok": 1.0}


def info_reply(info: Document, shape: ReplyShape) -> Reply:
    """``getStreamProcessor``: the info wrapped in ``result`` (live) or flat (spec)."""
    if shape == "live":
        return {"ok": 1.0, "result": info}
    return {**info, "ok": 1.0}


def processor_info(processor: Processor, tier_default: str) -> Document:
    """The ``getStreamProcessor`` document (plus an internal field drivers must hide)."""
    message, code, retryable = processor.error
    stats = processor.engine.stats()
    doc: Document = {
        "id": processor.id,
        "name": processor.name,
        "state": processor.state,
        "pipeline": processor.stages,
        "pipelineVersion": processor.pipeline_version,
        "tier": processor.tier or tier_default,
        "enableAutoScaling": processor.enable_auto_scaling,
        "failoverEnabled": bool(processor.options.get("failover", False)),
        "lastModifiedAt": processor.last_modified_at,
        "modifiedBy": processor.modified_by,
        "lastStateChange": processor.last_state_change,
        "hasStarted": processor.has_started,
        "stats": {
            key: stats[key]
            for key in ("inputMessageCount", "outputMessageCount", "dlqMessageCount")
            if key in stats
        },
        "errorMsg": message,
        "errorCode": code,
        "errorRetryable": retryable,
        "tenantID": "emulator-tenant",
    }
    for key in ("dlq", "streamMetaFieldName"):
        if key in processor.options:
            doc[key] = processor.options[key]
    return doc


def list_item(processor: Processor, tier_default: str) -> Document:
    """A ``listStreamProcessors`` item (the shape of the mongosh fixture)."""
    return {
        "id": processor.id,
        "name": processor.name,
        "pipeline": processor.stages,
        "state": processor.state,
        "tier": processor.tier or tier_default,
        "errorMsg": processor.error[0],
        "lastModified": processor.last_modified_at,
        "lastStateChange": processor.last_state_change,
        "options": {k: v for k, v in processor.options.items() if k != "tier"},
    }


def processors_reply(items: Sequence[Document]) -> Reply:
    """``listStreamProcessors``."""
    return {"ok": 1.0, "streamProcessors": list(items)}


def connections_reply(items: Sequence[Document]) -> Reply:
    """``listStreamConnections``."""
    return {"ok": 1.0, "connections": list(items)}


def stats_reply(namespace: str, processor: Processor, stats: Document) -> Reply:
    """``getStreamProcessorStats``: the stats with the processor's name, state and pipeline."""
    return {
        "ok": 1.0,
        "ns": f"{namespace}.{processor.name}",
        "name": processor.name,
        "state": processor.state,
        "stats": stats,
        "pipeline": processor.stages,
    }


def cursor_reply(cursor_id: int) -> Reply:
    """``startSampleStreamProcessor``: the cursor id only, an Int64."""
    return {"ok": 1.0, "cursorId": Int64(cursor_id)}


def batch_reply(batch: list[Document], cursor_id: int, shape: ReplyShape) -> Reply:
    """``getMoreSampleStreamProcessor``: the batch under ``messages`` (live) or
    ``nextBatch`` (spec); ``cursor_id`` 0 once the cursor is done."""
    return {
        "ok": 1.0,
        "cursorId": Int64(cursor_id),
        "messages" if shape == "live" else "nextBatch": batch,
    }


def process_reply(name: str, cursor_id: int) -> Reply:
    """``processStreamProcessor``: the ephemeral processor's name and its sample cursor."""
    return {"ok": 1.0, "name": name, "cursorId": Int64(cursor_id)}


def defaults_reply(default_tier: str, max_tier: str) -> Reply:
    """``listWorkspaceDefaults``."""
    return {"ok": 1.0, "defaultTierSize": default_tier, "maxTierSize": max_tier}


def reply_too_large(command: str, size: int, limit: int) -> Reply:
    """The error that replaces a reply longer than the message limit."""
    return CommandError(
        BSON_OBJECT_TOO_LARGE,
        f"{command}: the reply would be {size:,} bytes, {size - limit:,} over the message "
        f"limit of {limit:,} bytes (Limits.max_message_bytes); ask for less, e.g. "
        "listStreamProcessors with a filter that selects fewer processors",
    ).to_reply()
