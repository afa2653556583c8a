"""The ASP command protocol as pure functions: no I/O, no client, no clock.

Each builder validates its input, then returns a :class:`Command`: the command document
(command name first, key order as on the wire), whether it is a retryable read, and the
function that parses its reply. The sync and async clients only send
``command.document`` to the ``admin`` database and return ``command.parse(reply)``, so
every command shape and every reply shape is written here once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bson.int64 import Int64
from pymongo.errors import (
    ConnectionFailure,
    InvalidOperation,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)
from tenacity import retry_if_exception, stop_after_attempt

from asp_core.stream_processing.options import (
    CreateStreamProcessorOptions,
    GetStreamProcessorStatsOptions,
    StartStreamProcessorOptions,
    StreamProcessorInfo,
    check_count,
    check_document,
    check_tier,
)

T = TypeVar("T")
Reply = dict[str, Any]
Document = dict[str, Any]

#: Server error codes after which a read is retried once: the retryable-reads
#: specification's list, the same codes pymongo retries reads on.
RETRYABLE_READ_CODES: frozenset[int] = frozenset(
    {
        6,  # HostUnreachable
        7,  # HostNotFound
        89,  # NetworkTimeout
        91,  # ShutdownInProgress
        134,  # ReadConcernMajorityNotAvailableYet
        189,  # PrimarySteppedDown
        262,  # ExceededTimeLimit
        9001,  # SocketException
        10058,  # LegacyNotPrimary
        10107,  # NotWritablePrimary
        11600,  # InterruptedAtShutdown
        11602,  # InterruptedDueToReplStateChange
        13435,  # NotPrimaryNoSecondaryOk
        13436,  # NotPrimaryOrSecondary
    }
)
#: Error labels that make any server error retryable for a read.
RETRYABLE_READ_LABELS: tuple[str, ...] = ("RetryableError", "RetryableReadError")

#: Keys under which a reply carries sample documents, in order of preference.
OPENING_BATCH_KEYS: tuple[str, ...] = ("messages", "firstBatch")
GET_MORE_BATCH_KEYS: tuple[str, ...] = ("messages", "nextBatch")
#: Reply envelope fields that are not part of a command's result.
ENVELOPE_KEYS: frozenset[str] = frozenset({"ok", "$clusterTime", "operationTime"})


#: Words (lower case) of a TLS failure no wait or retry fixes: the workspace's certificate is
#: signed by a CA the client does not trust, names another host, or has expired.
CERTIFICATE_FAILURES: tuple[str, ...] = (
    "certificate verify failed",
    "certificate_verify_failed",
    "hostname mismatch",
    "doesn't match",
)


def is_certificate_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure to reach the workspace because its certificate failed
    verification (see :data:`CERTIFICATE_FAILURES`): permanent, never transient."""
    if not isinstance(exc, ConnectionFailure):
        return False
    text = str(exc).lower()
    return any(words in text for words in CERTIFICATE_FAILURES)


def is_retryable_read_error(exc: BaseException) -> bool:
    """Whether a failed ``getStreamProcessor``/``getStreamProcessorStats`` is sent again.

    Network errors are (server selection timeouts are not: they already waited; nor are
    certificate failures), and so are server errors with a retryable code or a retryable
    label.
    """
    if isinstance(exc, ServerSelectionTimeoutError) or is_certificate_failure(exc):
        return False
    if isinstance(exc, ConnectionFailure):
        return True
    if isinstance(exc, OperationFailure):
        return exc.code in RETRYABLE_READ_CODES or any(
            exc.has_error_label(label) for label in RETRYABLE_READ_LABELS
        )
    return False


def is_timeout_error(exc: BaseException) -> bool:
    """Whether ``exc`` says that a time bound ran out (pymongo's ``exc.timeout``): a
    ``pymongo.timeout()`` block or ``timeoutMS`` (CSOT), ``socketTimeoutMS``, server
    selection, or a sample cursor's ``timeout``."""
    return isinstance(exc, PyMongoError) and exc.timeout


def is_retried_read_error(exc: BaseException) -> bool:
    """Whether the client sends a failed retryable read again: on a retryable error
    (:func:`is_retryable_read_error`) that is not a timeout. A timeout has spent its
    bound already; a retry would run past it (past the caller's deadline, under CSOT)."""
    return is_retryable_read_error(exc) and not is_timeout_error(exc)


#: The retry policy of the retryable reads, as keyword arguments of
#: ``tenacity.Retrying`` (sync) and ``tenacity.AsyncRetrying`` (async): one retry, at once,
#: re-raising the last error as it is.
RETRY_READS: Mapping[str, Any] = {
    "stop": stop_after_attempt(2),
    "retry": retry_if_exception(is_retried_read_error),
    "reraise": True,
}


#: The attribute under which a client error carries the name of the command that failed.
COMMAND_ATTRIBUTE = "stream_processing_command"


def note_command(exc: BaseException, name: str) -> None:
    """Remember on ``exc`` which command failed (the first command noted wins), so that
    messages built far from the call can name it."""
    if getattr(exc, COMMAND_ATTRIBUTE, None) is None:
        setattr(exc, COMMAND_ATTRIBUTE, name)


def failed_command(exc: BaseException) -> str | None:
    """The command :func:`note_command` noted on ``exc`` (or on the error it was raised
    from), if any."""
    seen: BaseException | None = exc
    while seen is not None:
        name = getattr(seen, COMMAND_ATTRIBUTE, None)
        if isinstance(name, str):
            return name
        seen = seen.__cause__ or seen.__context__
    return None


@dataclass(frozen=True)
class Command(Generic[T]):
    """One command to send to the ``admin`` database and how to read its reply."""

    document: Document
    parse: Callable[[Reply], T]
    retryable: bool = False

    @property
    def name(self) -> str:
        """The command name (the document's first key)."""
        return next(iter(self.document))


# -- validation -------------------------------------------------------------------------


def check_name(name: Any, label: str = "stream processor name") -> str:
    """Return ``name`` if it is a non-blank string, else raise InvalidOperation."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidOperation(f"{label} must be a non-empty string, not {name!r}")
    return name


def check_pipeline(pipeline: Any) -> list[Any]:
    """Return ``pipeline`` as a list if it is a non-empty list of documents."""
    if not isinstance(pipeline, (list, tuple)):
        raise InvalidOperation(f"pipeline must be a list of stages, not {type(pipeline).__name__}")
    if not pipeline:
        raise InvalidOperation("pipeline must not be empty")
    for index, stage in enumerate(pipeline):
        if not isinstance(stage, Mapping):
            raise InvalidOperation(f"pipeline stage {index} must be a document, not {stage!r}")
    return list(pipeline)


def _compact(**fields: Any) -> Document:
    """The fields that are not None, in the order given."""
    return {key: value for key, value in fields.items() if value is not None}


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(word.capitalize() for word in rest)


def wire_options(options: Any, *, skip: frozenset[str] = frozenset()) -> Document:
    """An options dataclass as its wire sub-document: the fields that are set, in
    declaration order, named in camelCase (``stream_meta_field_name`` is sent as
    ``streamMetaFieldName``)."""
    return _compact(
        **{
            _camel(field.name): getattr(options, field.name)
            for field in dataclasses.fields(options)
            if field.name not in skip
        }
    )


def _with_options(document: Document, options: Document) -> Document:
    """``document`` plus ``options`` when any option is set (an empty one is never sent)."""
    if options:
        document["options"] = options
    return document


# -- reply parsers ----------------------------------------------------------------------


def parse_ok(reply: Reply) -> None:
    """Replies that carry nothing but ``ok`` (pymongo already raised on errors)."""
    return None


def parse_raw(reply: Reply) -> Reply:
    """The reply as received, unknown fields included."""
    return dict(reply)


def parse_fields(reply: Reply) -> Reply:
    """The reply without its envelope (``ok``, ``$clusterTime``, ``operationTime``)."""
    return {key: value for key, value in reply.items() if key not in ENVELOPE_KEYS}


def parse_batch(reply: Reply, keys: Sequence[str]) -> list[dict[str, Any]]:
    """The documents under the first of ``keys`` present in ``reply`` (``[]`` if none)."""
    for key in keys:
        batch = reply.get(key)
        if batch is not None:
            return list(batch)
    return []


def parse_cursor_id(reply: Reply) -> int:
    """The ``cursorId`` of a sample reply as an int (a missing one means exhausted: 0)."""
    return int(reply.get("cursorId") or 0)


def parse_processor_list(reply: Reply) -> list[StreamProcessorInfo]:
    """``listStreamProcessors``: the items under ``streamProcessors`` (items without a name
    are skipped)."""
    items = reply.get("streamProcessors") or []
    return [StreamProcessorInfo.from_response(item) for item in items if item.get("name")]


def parse_connection_list(reply: Reply) -> list[dict[str, Any]]:
    """``listStreamConnections``: the documents under ``connections``."""
    return [dict(item) for item in reply.get("connections") or []]


# -- the implemented commands -----------------------------------------------------------


def create(
    name: str, pipeline: Sequence[Mapping[str, Any]], options: CreateStreamProcessorOptions | None
) -> Command[None]:
    """``{createStreamProcessor: name, pipeline, options?: {dlq, streamMetaFieldName, tier,
    failover}}``."""
    document: Document = {"createStreamProcessor": check_name(name)}
    document["pipeline"] = check_pipeline(pipeline)
    options = options or CreateStreamProcessorOptions()
    return Command(_with_options(document, wire_options(options)), parse_ok)


def start(name: str, options: StartStreamProcessorOptions | None) -> Command[None]:
    """``{startStreamProcessor: name, workers?, options?: {clearCheckpoints,
    startAtOperationTime, startAfter, tier, enableAutoScaling, failover}}``."""
    options = options or StartStreamProcessorOptions()
    document = _compact(startStreamProcessor=check_name(name), workers=options.workers)
    nested = wire_options(options, skip=frozenset({"workers"}))
    return Command(_with_options(document, nested), parse_ok)


def stop(name: str) -> Command[None]:
    """``{stopStreamProcessor: name}``."""
    return Command({"stopStreamProcessor": check_name(name)}, parse_ok)


def drop(name: str) -> Command[None]:
    """``{dropStreamProcessor: name}``."""
    return Command({"dropStreamProcessor": check_name(name)}, parse_ok)


def get_info(name: str) -> Command[StreamProcessorInfo]:
    """``{getStreamProcessor: name}``, a retryable read; the reply flat or under ``result``."""
    return Command(
        {"getStreamProcessor": check_name(name)},
        StreamProcessorInfo.from_response,
        retryable=True,
    )


def stats(name: str, options: GetStreamProcessorStatsOptions | None) -> Command[Reply]:
    """``{getStreamProcessorStats: name, options?: {scale, verbose}}``, a retryable read;
    the reply is returned as received."""
    options = options or GetStreamProcessorStatsOptions()
    document: Document = {"getStreamProcessorStats": check_name(name)}
    return Command(_with_options(document, wire_options(options)), parse_raw, retryable=True)


def start_sample(name: str, limit: int | None) -> Document:
    """``{startSampleStreamProcessor: name, limit?}`` (its reply is read by the cursor)."""
    check_count("limit", limit, minimum=0)
    return _compact(startSampleStreamProcessor=check_name(name), limit=limit)


def get_more_sample(name: str, cursor_id: int, batch_size: int | None) -> Document:
    """``{getMoreSampleStreamProcessor: name, cursorId: Int64, batchSize?}``."""
    check_count("cursor_id", cursor_id, minimum=1)
    check_count("batch_size", batch_size, minimum=0)
    return _compact(
        getMoreSampleStreamProcessor=check_name(name),
        cursorId=Int64(cursor_id),
        batchSize=batch_size,
    )


# -- the commands the seed API defers ---------------------------------------------------


def modify(
    name: str,
    pipeline: Sequence[Mapping[str, Any]] | None = None,
    *,
    new_name: str | None = None,
    dlq: Mapping[str, Any] | None = None,
    tier: str | None = None,
    resume_from_checkpoint: bool | None = None,
) -> Command[str]:
    """``{modifyStreamProcessor: name, pipeline?, name?, dlq?, resumeFromCheckpoint?, tier?}``
    (every field at the top level). The reply parses to the processor's name afterwards."""
    check_name(name)
    if pipeline is not None:
        pipeline = check_pipeline(pipeline)
    if new_name is not None:
        check_name(new_name, "new stream processor name")
    check_document("dlq", dlq)
    check_tier(tier)
    changes = _compact(
        pipeline=pipeline,
        name=new_name,
        dlq=dlq,
        resumeFromCheckpoint=resume_from_checkpoint,
        tier=tier,
    )
    if not changes:
        raise InvalidOperation(
            "modify needs a pipeline, new_name, dlq, tier or resume_from_checkpoint"
        )
    final_name = new_name or name
    return Command({"modifyStreamProcessor": name, **changes}, lambda reply: final_name)


def list_processors(filter: Mapping[str, Any] | None = None) -> Command[list[StreamProcessorInfo]]:
    """``{listStreamProcessors: 1, filter?}``."""
    check_document("filter", filter)
    return Command(_compact(listStreamProcessors=1, filter=filter), parse_processor_list)


def list_connections(filter: Mapping[str, Any] | None = None) -> Command[list[dict[str, Any]]]:
    """``{listStreamConnections: 1, filter?}``."""
    check_document("filter", filter)
    return Command(_compact(listStreamConnections=1, filter=filter), parse_connection_list)


def workspace_defaults() -> Command[Reply]:
    """``{listWorkspaceDefaults: 1}``; the reply without its envelope
    (``defaultTierSize``, ``maxTierSize``, ...)."""
    return Command({"listWorkspaceDefaults": 1}, parse_fields)


def process(
    pipeline: Sequence[Mapping[str, Any]], limit: int | None, dlq: Mapping[str, Any] | None
) -> Document:
    """``{processStreamProcessor: [stages], options?: {limit, dlq}}`` (the command value is
    the pipeline; its reply ``{name, cursorId}`` is read by the cursor)."""
    check_count("limit", limit, minimum=0)
    check_document("dlq", dlq)
    document: Document = {"processStreamProcessor": check_pipeline(pipeline)}
    return _with_options(document, _compact(limit=limit, dlq=dlq))
