"""The output sensor: documents of a processor's output that satisfy ``match`` become runs
whose run config carries them, in batches, deduplicated like the Airflow output trigger.

What a batch is, which documents belong in one and which a new sample cursor replays are the
core's rules (:class:`asp_core.event_rules.Batch`, :func:`~asp_core.event_rules.select_output`,
:class:`~asp_core.event_rules.ReplayGuard`); the payload is
:func:`~asp_core.event_rules.output_payload`'s.
"""

import datetime
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Optional

import dagster as dg

from asp_core import arguments
from asp_core import event_rules as rules
from asp_core.errors import AspInputError
from asp_core.stream_processing import GetStreamProcessorSamplesOptions, StreamProcessorInfo
from asp_core.waiting import states as state_names
from asp_core.waiting.matching import check_query
from dagster_asp.resource import AspWorkspace
from dagster_asp.sensors import common, cursors

KIND = "asp_output"
#: Documents asked for by each sample fetch, and fetches per processor and tick at most.
SAMPLE_BATCH = 1_000
FETCHES_PER_TICK = 10

RunConfigFn = Callable[[dict[str, Any]], Mapping[str, Any]]


def build_asp_output_sensor(
    *,
    target: Any,
    processor_names: Iterable[common.ProcessorRef],
    op_name: Optional[str] = None,  # noqa: UP045
    run_config_fn: Optional[RunConfigFn] = None,  # noqa: UP045
    match: Optional[Mapping[str, Any]] = None,  # noqa: UP045
    max_batch: int = 100,
    max_wait: float = 5.0,
    max_payload_bytes: int = rules.DEFAULT_PAYLOAD_BYTES,
    include_dlq: bool = False,
    name: str = "asp_output_sensor",
    resource_key: str = "asp",
    minimum_interval_seconds: int = 30,
    budget_seconds: float = common.DEFAULT_BUDGET_SECONDS,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
    description: Optional[str] = None,  # noqa: UP045
) -> dg.SensorDefinition:
    """A sensor that requests a run of ``target`` per batch of output documents that satisfy
    ``match`` (a MongoDB query, as the Airflow sample sensor's).

    The run config carries the core's output payload ``{"kind": "output", "processor_name",
    "documents": [...JSON...], "count", "oversized", "sent_at"}``: as the config of the op
    ``op_name`` (``{"ops": {op_name: {"config": payload}}}``; give it
    ``config_schema=dg.Permissive()``), or as ``run_config_fn(payload)`` returns it. A batch
    goes out at ``max_batch`` documents, ``max_wait`` seconds after its first (checked each
    tick: a batch may wait up to one more interval), or before its payload passes
    ``max_payload_bytes``.

    Each tick lists the processors (one command), then follows each running one's sample
    cursor, whose id the cursor keeps (a tap: output while no cursor is open is not seen).
    The digests of the last 1,000 documents read are kept too: documents a new sample cursor
    replays are skipped, as the Airflow output trigger does. A pending batch waits in the
    cursor (at most ``max_payload_bytes``).
    """
    names = common.processor_names(processor_names)
    assert names is not None
    if match is not None:
        check_query(rules.plain_json(match, "match"))
    if (op_name is None) == (run_config_fn is None):
        raise AspInputError("Give exactly one of op_name and run_config_fn.")
    settings = _Settings(
        match=None if match is None else dict(match),
        max_batch=arguments.integer(max_batch, "max_batch", maximum=rules.MAX_BATCH_LIMIT),
        max_wait=arguments.seconds(max_wait, "max_wait"),
        max_payload_bytes=arguments.integer(
            max_payload_bytes,
            "max_payload_bytes",
            minimum=rules.MIN_PAYLOAD_BYTES,
            maximum=rules.MAX_PAYLOAD_BYTES,
        ),
        include_dlq=bool(include_dlq),
        run_config=run_config_fn or (lambda payload: {"ops": {op_name: {"config": payload}}}),
    )
    budget = common.budget_seconds(budget_seconds)

    @dg.sensor(
        name=name,
        target=target,
        minimum_interval_seconds=minimum_interval_seconds,
        required_resource_keys={resource_key},
        default_status=default_status,
        description=description or "Runs on matching output documents of stream processors.",
    )
    def _output_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        resource = common.workspace(context, resource_key)
        return output_tick(context, resource, names, settings, budget)

    return _output_sensor


class _Settings:
    def __init__(self, **fields: Any) -> None:
        self.match: Optional[dict[str, Any]] = fields["match"]  # noqa: UP045
        self.max_batch: int = fields["max_batch"]
        self.max_wait: float = fields["max_wait"]
        self.max_payload_bytes: int = fields["max_payload_bytes"]
        self.include_dlq: bool = fields["include_dlq"]
        self.run_config: RunConfigFn = fields["run_config"]


def output_tick(
    context: dg.SensorEvaluationContext,
    resource: AspWorkspace,
    names: list[str],
    settings: _Settings,
    budget_seconds: float,
) -> dg.SensorResult:
    tick = common.start_tick(context, resource, KIND, names, budget_seconds)
    budget, memory, listed = tick.budget, tick.memory, tick.listed
    kept = {n: memory[n] for n in names if isinstance(memory.get(n), dict)}
    requests: list[dg.RunRequest] = []
    for processor in names:
        if common.out_of_time(budget):
            break
        follower = _Follower(processor, kept.get(processor, {}), settings)
        requests.extend(follower.tick(context, resource, listed.get(processor), budget))
        kept[processor] = follower.memory()
    return dg.SensorResult(run_requests=requests, cursor=cursors.dump(KIND, {"p": kept}))


class _Follower:
    """One processor's output during one tick, from and to its memory in the cursor."""

    def __init__(self, name: str, memory: Mapping[str, Any], settings: _Settings) -> None:
        self.name, self.settings = name, settings
        cursor_id = memory.get("cursor")
        self.cursor_id: Optional[int] = cursor_id if isinstance(cursor_id, int) else None  # noqa: UP045
        seen = [d for d in memory.get("seen", []) if isinstance(d, str)]
        self.guard = rules.ReplayGuard(rules.SeenDocuments(digests=seen))
        sent = memory.get("sent", 0)
        self.sent: int = sent if isinstance(sent, int) else 0
        self.batch = rules.Batch(settings.max_batch, settings.max_wait, settings.max_payload_bytes)
        self.ready: list[rules.Batch] = []
        pending = memory.get("batch")
        if isinstance(pending, dict):
            opened = pending.get("opened")
            at = float(opened) if isinstance(opened, (int, float)) else time.time()
            for document in pending.get("documents", []):
                self.ready.extend(self.batch.add(document, at))
            oversized = pending.get("oversized", 0)
            if isinstance(oversized, int) and oversized:
                self.batch.oversized += oversized
                self.batch.opened_at = at if self.batch.opened_at is None else self.batch.opened_at

    def tick(
        self,
        context: dg.SensorEvaluationContext,
        resource: AspWorkspace,
        info: Optional[StreamProcessorInfo],  # noqa: UP045
        budget: rules.TickBudget,
    ) -> list[dg.RunRequest]:
        if info is None or not state_names.is_running(info.state):
            self.cursor_id = None  # its cursor ended with the processor's run
            if self.batch.pending:
                self.ready.append(self.batch.take())
        else:
            self._follow(context, resource, budget)
        if self.batch.due(time.time()):
            self.ready.append(self.batch.take())
        return [self._request(batch) for batch in self.ready]

    def _follow(
        self, context: dg.SensorEvaluationContext, resource: AspWorkspace, budget: rules.TickBudget
    ) -> None:
        handle = resource.get_client().stream_processors().get(self.name)
        for _ in range(FETCHES_PER_TICK):
            if self.cursor_id is None:
                self.guard.new_cursor()
            options = GetStreamProcessorSamplesOptions(
                cursor_id=self.cursor_id, batch_size=SAMPLE_BATCH
            )
            try:
                result = handle.get_stream_processor_samples(options)
            except Exception as exc:
                error = common.failed_read(resource, exc, f"sampling {self.name!r}")
                context.log.warning("%s A new sample cursor next tick.", error)
                self.cursor_id = None
                return
            now = time.time()
            for document in result.documents:
                selected = rules.select_output(
                    document,
                    self.guard,
                    match=self.settings.match,
                    include_dlq=self.settings.include_dlq,
                )
                if selected is not None:
                    self.ready.extend(self.batch.add(selected[0], now, size=selected[1]))
            self.cursor_id = result.cursor_id or None
            if self.cursor_id is None or not result.documents or common.out_of_time(budget):
                return

    def _request(self, batch: rules.Batch) -> dg.RunRequest:
        sent_at = datetime.datetime.now(datetime.timezone.utc).isoformat()
        payload = rules.output_payload(self.name, batch, sent_at=sent_at)
        content = rules.digest([rules.digest(d) for d in batch.documents])
        key = f"asp-output:{self.name}:{self.sent}:{content}"
        self.sent += len(batch.documents) + batch.oversized
        tags = {"asp/processor": self.name, "asp/count": str(len(batch.documents))}
        return dg.RunRequest(
            run_key=key, run_config=dict(self.settings.run_config(payload)), tags=tags
        )

    def memory(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "cursor": self.cursor_id,
            "seen": self.guard.seen.snapshot(),
            "sent": self.sent,
        }
        if self.batch.pending:
            data["batch"] = {
                "documents": self.batch.documents,
                "oversized": self.batch.oversized,
                "opened": self.batch.opened_at,
            }
        return data
