"""The emulated Admin API's processor and log endpoints, over the wire server's own engine.

A workspace's processors are its :class:`~asp_emulator.processors.ProcessorRegistry`,
reached only through :meth:`Project.engine <asp_emulator.admin.project.Project.engine>`:
an HTTP request becomes the wire command's document, read by the same parser
(:mod:`asp_emulator.protocol`) and run by the same registry method the wire command runs,
so a processor created over HTTP is listed on the wire and the reverse, and states and
refusals match. Processor documents are ``StreamsProcessorWithStats`` (``_id``, ``name``,
``pipeline``, ``state``, ``stats``, ...); the logs are the registry's
:class:`~asp_emulator.journal.Journal`, gzip-compressed JSON lines.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping
from typing import Any

import bson
import bson.errors
from aiohttp import web
from bson import json_util

from asp_emulator import protocol
from asp_emulator.admin import queries
from asp_emulator.admin.errors import ApiError
from asp_emulator.admin.project import Project
from asp_emulator.errors import (
    COMMAND_FAILED,
    PROCESSOR_ALREADY_EXISTS,
    PROCESSOR_DOES_NOT_EXIST,
    CommandError,
)
from asp_emulator.journal import Journal, Kind
from asp_emulator.processors import STARTED, Processor, ProcessorRegistry

V_PROCESSORS = "2024-05-30"
V_START_WITH = "2025-03-12"
V_OPERATIONAL_LOGS = "2025-03-12"
V_AUDIT_LOGS = "2023-02-01"
_WS = "/api/atlas/v2/groups/{groupId}/streams/{tenantName}"
#: route name -> (path, the versions it serves). Registered before the workspace routes:
#: ``{tenantName}`` and ``{processorName}`` would also match the ``:verb`` suffixes.
ROUTES = {
    "processor_start_with": (f"{_WS}/processor/{{processorName}}:startWith", (V_START_WITH,)),
    "processor_start": (f"{_WS}/processor/{{processorName}}:start", (V_PROCESSORS,)),
    "processor_stop": (f"{_WS}/processor/{{processorName}}:stop", (V_PROCESSORS,)),
    "processor": (f"{_WS}/processor/{{processorName}}", (V_PROCESSORS,)),
    "processor_create": (f"{_WS}/processor", (V_PROCESSORS,)),
    "processors": (f"{_WS}/processors", (V_PROCESSORS,)),
    "operational_logs": (f"{_WS}:downloadOperationalLogs", (V_OPERATIONAL_LOGS,)),
    "audit_logs": (f"{_WS}/auditLogs", (V_AUDIT_LOGS,)),
}
#: Routes that answer ``application/vnd.atlas.<date>+gzip`` (and only that).
GZIP_ROUTES = frozenset({"operational_logs", "audit_logs"})
#: The default span of a log download (Atlas: 30 days).
LOG_SPAN = 30 * 24 * 3600
#: What a log's file name may not carry of the processor's name (it is a header's text).
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
#: ``startDate`` and ``endDate`` are int64 epoch seconds.
EPOCH_LIMIT = 2**63

_CREATE_FIELDS = frozenset({"name", "pipeline", "options", "tier", "failoverEnabled"})
_MODIFY_FIELDS = frozenset({"name", "pipeline", "options", "tier", "failoverEnabled"})
_START_WITH_FIELDS = frozenset({"resumeFromCheckpoint", "startAtOperationTime", "tier", "failover"})
_READ_ONLY = frozenset({"_id", "links"})


async def handle(
    project: Project,
    request: web.Request,
    route: str,
    version: str,
    body: dict[str, Any],
    actor: str,
) -> web.Response:
    """Answer one request to a route of :data:`ROUTES` (``body``: the JSON body, ``{}``
    without one; ``actor``: the credential's ID, for the audit log). Raises
    :class:`ApiError` for Atlas's error answers."""
    workspace = request.match_info["tenantName"]
    named = request.match_info.get("processorName") or body.get("name")
    name = named if isinstance(named, str) else ""
    engine = project.engine(workspace)
    if request.method == "GET":
        return _answer(project, engine, request, route, version, body, actor)
    action = f"{request.method} {route}"
    try:
        response = _answer(project, engine, request, route, version, body, actor)
    except ApiError as exc:
        engine.journal.audit(actor, action, f"error {exc.status}", name or None, via="admin-api")
        raise
    engine.journal.audit(actor, action, "ok", name or None, via="admin-api")
    return response


def _answer(
    project: Project,
    engine: ProcessorRegistry,
    request: web.Request,
    route: str,
    version: str,
    body: dict[str, Any],
    actor: str,
) -> web.Response:
    workspace = request.match_info["tenantName"]
    name = request.match_info.get("processorName", "")
    method = request.method
    media = f"application/vnd.atlas.{version}+json"
    match route, method:
        case "processors", "GET":
            docs = [processor_doc(engine, p) for p in engine.visible()]
            return _json(200, media, queries.page(request.query, docs))
        case "processor_create", "POST":
            name = _create(engine, body, actor)
            return _json(200, media, processor_doc(engine, engine.get(name), stats=False))
        case "processor", "GET":
            return _json(200, media, processor_doc(engine, _get(engine, name)))
        case "processor", "PATCH":
            final = _modify(engine, name, body, actor)
            return _json(200, media, processor_doc(engine, engine.get(final)))
        case "processor", "DELETE":
            _run(engine.drop, name)
            return web.Response(status=204)
        case "processor_start", "POST":
            _run(engine.start, protocol.parse_start({"startStreamProcessor": name}))
            return _json(200, media, {})
        case "processor_start_with", "POST":
            _start_with(project, engine, workspace, name, body)
            return _json(200, media, {})
        case "processor_stop", "POST":
            _run(engine.stop, name)
            return _json(200, media, {})
        case (("operational_logs" | "audit_logs"), "GET"):
            return _logs(engine.journal, workspace, route, version, request.query)
        case _:
            raise ApiError(405, "METHOD_NOT_ALLOWED", f"{method} is not allowed here.")


# -- the processor document ----------------------------------------------------------------
def processor_doc(
    engine: ProcessorRegistry, processor: Processor, *, stats: bool = True
) -> dict[str, Any]:
    """``StreamsProcessorWithStats``: the definition, ``state`` and the ``stats`` the wire's
    ``getStreamProcessorStats`` reports (same engine call); without ``stats``, the
    ``StreamsProcessor`` a create answers (the definition only)."""
    doc: dict[str, Any] = {
        "_id": processor.id,
        "name": processor.name,
        "pipeline": _ejson(processor.stages),
        "tier": processor.tier or engine.defaults.default_tier,
        "failoverEnabled": bool(processor.options.get("failover", False)),
    }
    if stats:
        _, numbers = engine.stats(protocol.Stats(processor.name, 1, False))
        numbers.pop("ok", None)
        doc.update(state=processor.state, stats=_plain(numbers), eligibleForFailover=False)
    if "dlq" in processor.options:
        doc["options"] = {"dlq": _ejson(processor.options["dlq"])}
    return doc


def _ejson(value: Any) -> Any:
    """A BSON value as relaxed Extended JSON (dates as ``{"$date": ...}``): read back the
    same by :func:`_bson`."""
    return json.loads(json_util.dumps(value, json_options=json_util.RELAXED_JSON_OPTIONS))


def _bson(value: Any) -> Any:
    """A JSON value with Extended JSON (``$date``, ``$numberLong``, ...) made BSON; a 400
    for Extended JSON that is not (``{"$oid": "zz"}``, ``{"$date": "garbage"}``, ...)."""
    try:
        return json_util.loads(json.dumps(value))
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, bson.errors.BSONError):
        raise ApiError(
            400,
            "INVALID_ATTRIBUTE",
            "pipeline holds Extended JSON that is not valid ($oid, $date, $numberLong, ...).",
            ["pipeline"],
        ) from None


def _plain(value: Any) -> Any:
    """Stats as plain JSON: datetimes as ISO 8601 UTC strings, BSON numbers as numbers."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, bson.Int64):
        return int(value)
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


# -- the commands, as the wire runs them ----------------------------------------------------
def _run(action: Any, *args: Any) -> Any:
    """A registry method, its command error made Atlas's answer."""
    try:
        return action(*args)
    except CommandError as exc:
        raise _refusal(exc) from None


def _refusal(exc: CommandError, *, conflict: int = 400) -> ApiError:
    """The Admin API's answer for the wire's refusal ``exc`` (``conflict``: the status of a
    name already taken)."""
    if exc.code == PROCESSOR_DOES_NOT_EXIST[0]:
        return ApiError(404, "STREAM_PROCESSOR_NOT_FOUND", exc.message)
    if exc.code == PROCESSOR_ALREADY_EXISTS[0]:
        if "already running" in exc.message:
            return ApiError(400, "STREAM_PROCESSOR_ALREADY_STARTED", exc.message)
        return ApiError(conflict, "STREAM_PROCESSOR_NAME_ALREADY_EXISTS", exc.message)
    if exc.code == COMMAND_FAILED[0]:
        return ApiError(400, "STREAM_PROCESSOR_INVALID_STATE", exc.message)
    return ApiError(400, "INVALID_STREAM_PROCESSOR", f"{exc.message} ({exc.code_name})")


def _get(engine: ProcessorRegistry, name: str) -> Processor:
    processor: Processor = _run(engine.get, name)
    return processor


def _only(body: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    unknown = sorted(set(body) - allowed - _READ_ONLY)
    if unknown:
        raise ApiError(400, "INVALID_ATTRIBUTE", f"{what} does not take {', '.join(unknown)}.")


def _options(body: Mapping[str, Any], allowed: frozenset[str]) -> Mapping[str, Any]:
    options = body.get("options") or {}
    if not isinstance(options, Mapping):
        raise ApiError(400, "INVALID_ATTRIBUTE", "options must be an object.")
    _only(options, allowed, "options")
    return options


def _create(engine: ProcessorRegistry, body: Mapping[str, Any], actor: str) -> str:
    """``createStreamProcessor`` from a ``StreamsProcessor`` body; the name."""
    _only(body, _CREATE_FIELDS, "A processor")
    name = body.get("name")
    pipeline = body.get("pipeline")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "INVALID_ATTRIBUTE", "name must be a non-empty string.")
    if not isinstance(pipeline, list) or not all(isinstance(s, Mapping) for s in pipeline):
        raise ApiError(400, "INVALID_ATTRIBUTE", "pipeline must be an array of stages.")
    options = _options(body, frozenset({"dlq"}))
    wire_options: dict[str, Any] = {}
    if options.get("dlq"):
        wire_options["dlq"] = options["dlq"]
    if body.get("tier") is not None:
        wire_options["tier"] = body["tier"]
    if body.get("failoverEnabled") is not None:
        wire_options["failover"] = body["failoverEnabled"]
    command = {"createStreamProcessor": name, "pipeline": _bson(pipeline), "options": wire_options}
    try:
        engine.create(protocol.parse_create(command), owner=actor)
    except CommandError as exc:
        raise _refusal(exc, conflict=409) from None
    return name


def _modify(engine: ProcessorRegistry, name: str, body: Mapping[str, Any], actor: str) -> str:
    """``modifyStreamProcessor`` from a ``StreamsModifyStreamProcessor`` body (and
    ``failoverEnabled``, which the wire command has no word for); the final name."""
    _only(body, _MODIFY_FIELDS, "A processor's modification")
    options = _options(body, frozenset({"dlq", "resumeFromCheckpoint"}))
    command: dict[str, Any] = {"modifyStreamProcessor": name}
    if body.get("name") is not None:
        command["name"] = body["name"]
    if body.get("pipeline") is not None:
        command["pipeline"] = _bson(body["pipeline"])
    if body.get("tier") is not None:
        command["tier"] = body["tier"]
    for key in ("dlq", "resumeFromCheckpoint"):
        if options.get(key) is not None:
            command[key] = options[key]
    failover = body.get("failoverEnabled")
    if failover is not None and not isinstance(failover, bool):
        raise ApiError(400, "INVALID_ATTRIBUTE", "failoverEnabled must be a boolean.")
    processor = _get(engine, name)
    final = name
    if len(command) > 1 or failover is None:
        try:
            engine.modify(protocol.parse_modify(command), owner=actor)
        except CommandError as exc:
            raise _refusal(exc) from None
        final = str(command.get("name") or name)
    elif processor.state == STARTED or processor.pending is not None:
        raise ApiError(
            400,
            "STREAM_PROCESSOR_INVALID_STATE",
            f"stream processor {name} must be stopped before it is modified",
        )
    if failover is not None:
        processor.options["failover"] = failover
    return final


def _start_with(
    project: Project,
    engine: ProcessorRegistry,
    workspace: str,
    name: str,
    body: Mapping[str, Any],
) -> None:
    """``:startWith`` (``StreamsStartStreamProcessorWith``) as ``startStreamProcessor``:
    ``resumeFromCheckpoint`` false clears the checkpoints; ``failover`` must name the
    workspace's region or one of its failover regions (``dryRun`` only checks)."""
    _only(body, _START_WITH_FIELDS, "A start")
    command: dict[str, Any] = {"startStreamProcessor": name}
    resume = body.get("resumeFromCheckpoint")
    if resume is not None and not isinstance(resume, bool):
        raise ApiError(400, "INVALID_ATTRIBUTE", "resumeFromCheckpoint must be a boolean.")
    clear = resume is False
    if body.get("tier") is not None:
        command["tier"] = body["tier"]
    at = body.get("startAtOperationTime")
    if at is not None:
        command["startAtOperationTime"] = _timestamp(at)
    failover = body.get("failover")
    dry_run = False
    if failover is not None:
        clear_failover, dry_run = _failover(project.workspace(workspace), failover)
        clear = clear or clear_failover
    if clear:
        command["clearCheckpoints"] = True
    try:
        request = protocol.parse_start(command)
    except CommandError as exc:
        raise _refusal(exc) from None
    if dry_run:
        _get(engine, name)
        return
    _run(engine.start, request)


def _timestamp(value: Any) -> bson.Timestamp:
    """An ISO 8601 date-time as the wire's operation time."""
    try:
        moment = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.timezone.utc)
        return bson.Timestamp(int(moment.timestamp()), 1)  # seconds 0 .. 2**32 - 1
    except (ValueError, OverflowError):
        raise ApiError(
            400,
            "INVALID_ATTRIBUTE",
            "startAtOperationTime must be an ISO 8601 date-time from 1970 to 2106.",
        ) from None


def _failover(workspace: Mapping[str, Any], failover: Any) -> tuple[bool, bool]:
    """``(clear checkpoints, dry run)`` of a valid ``failover`` object."""
    if not isinstance(failover, Mapping):
        raise ApiError(400, "INVALID_ATTRIBUTE", "failover must be an object.")
    _only(failover, frozenset({"region", "mode", "dryRun", "clearCheckpoint"}), "failover")
    region = failover.get("region")
    regions = {workspace.get("dataProcessRegion", {}).get("region")}
    for entry in workspace.get("failoverRegions") or ():
        regions.add(entry.get("region") if isinstance(entry, Mapping) else entry)
    if not isinstance(region, str) or region not in regions:
        raise ApiError(
            400,
            "INVALID_ATTRIBUTE",
            f"failover.region must be the workspace's region or a failover region "
            f"({', '.join(sorted(r for r in regions if isinstance(r, str)))}).",
        )
    mode = failover.get("mode", "GRACEFUL")
    if mode not in ("GRACEFUL", "FORCED"):
        raise ApiError(400, "INVALID_ATTRIBUTE", "failover.mode must be GRACEFUL or FORCED.")
    return bool(failover.get("clearCheckpoint")) and mode == "FORCED", bool(failover.get("dryRun"))


# -- logs -------------------------------------------------------------------------------------
def _logs(
    journal: Journal, workspace: str, route: str, version: str, query: Mapping[str, str]
) -> web.Response:
    """The gzip of the journal's lines for the query (``startDate``/``endDate``: epoch
    seconds, by default the last 30 days; ``spName``: one processor)."""
    try:
        end = int(query["endDate"]) if "endDate" in query else None
        start = int(query["startDate"]) if "startDate" in query else None
    except ValueError:
        end = start = EPOCH_LIMIT  # refused below
    if any(when is not None and abs(when) >= EPOCH_LIMIT for when in (start, end)):
        raise ApiError(
            400, "INVALID_QUERY_PARAMETER", "startDate and endDate are epoch seconds (int64)."
        )
    now = int(datetime.datetime.now(datetime.timezone.utc).timestamp())
    end = end if end is not None else now
    start = start if start is not None else end - LOG_SPAN
    if start > end:
        raise ApiError(400, "INVALID_QUERY_PARAMETER", "startDate is after endDate.")
    kind: Kind = "operational" if route == "operational_logs" else "audit"
    processor = query.get("spName") or None
    lines = journal.lines(kind, start=start, end=end + 0.999, processor=processor)
    named = _FILENAME_UNSAFE.sub("_", processor or "")  # spName is any text: no CR, LF or quote
    filename = f"{workspace}_{named}_{start}_{end}_{kind}.log.gz"
    return web.Response(
        status=200,
        body=Journal.gzip(lines, workspace),
        content_type=f"application/vnd.atlas.{version}+gzip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# -- answers ------------------------------------------------------------------------------------
def _json(status: int, media: str, doc: Any) -> web.Response:
    return web.Response(status=status, content_type=media, text=json.dumps(doc))
