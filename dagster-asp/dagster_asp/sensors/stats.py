"""The stats sensor: runless observations of each processor's counters on its assets, and
runless evaluations of the checks Dagster users alert on (``processor_running``,
``dlq_not_growing``, and optionally ``has_throughput``), against the previous tick's counts.
"""

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional

import dagster as dg

from asp_core import health
from asp_core.errors import AspInputError
from asp_core.waiting import states as state_names
from asp_core.waiting.conditions import count, stats_document, stats_state
from dagster_asp.checks import DLQ_NOT_GROWING, PROCESSOR_RUNNING, check_evaluation
from dagster_asp.processor import AspProcessor
from dagster_asp.resource import AspWorkspace
from dagster_asp.sensors import common, cursors
from dagster_asp.translator import DagsterAspTranslator

KIND = "asp_stats"
HAS_THROUGHPUT = "has_throughput"
CHECKS = (PROCESSOR_RUNNING, DLQ_NOT_GROWING, HAS_THROUGHPUT)
#: The counters kept from one tick to the next (cursor keys).
KEPT = {"in": "inputMessageCount", "out": "outputMessageCount", "dlq": "dlqMessageCount"}


def judge(
    check: str,
    processor: AspProcessor,
    state: Optional[str],  # noqa: UP045
    counts: Mapping[str, int],
    previous: Optional[Mapping[str, int]],  # noqa: UP045
) -> health.Judgement:
    """One check's verdict, judged by the core (:mod:`asp_core.health`, as the checks of a
    deploy are), from the stats read now (``state`` None: no such processor) and the
    previous tick's counts (None: first look, nothing to compare with)."""
    name = processor.name
    if check == PROCESSOR_RUNNING:
        info = None if state is None else {"state": state}
        return health.judge_processor_running(name, info, processor.desired_state)
    before = None if state is None or previous is None else previous
    if check == DLQ_NOT_GROWING:
        return health.judge_dlq_not_growing(
            name,
            {"dlqMessageCount": counts["dlq"]},
            None if before is None else before.get("dlq", 0),
        )
    return health.judge_has_throughput(
        name, state, counts["in"], None if before is None else before.get("in", 0)
    )


def build_asp_stats_sensor(
    *,
    processors: Sequence[AspProcessor],
    translator: Optional[DagsterAspTranslator] = None,  # noqa: UP045
    checks: Iterable[str] = (PROCESSOR_RUNNING, DLQ_NOT_GROWING),
    name: str = "asp_stats_sensor",
    resource_key: str = "asp",
    minimum_interval_seconds: int = 60,
    budget_seconds: float = common.DEFAULT_BUDGET_SECONDS,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
    description: Optional[str] = None,  # noqa: UP045
) -> dg.SensorDefinition:
    """A sensor that observes each processor's stats on its assets (keys from
    ``translator``) without a run: an ``AssetObservation`` per asset with the counters and
    the state, and an ``AssetCheckEvaluation`` per asset and check. ``dlq_not_growing`` and
    ``has_throughput`` compare with the previous tick's counts (kept in the cursor): their
    first evaluation passes. One ``getStreamProcessorStats`` per processor; a tick stops
    after ``budget_seconds`` and the next one starts where it stopped."""
    chosen = tuple(dict.fromkeys(checks))
    unknown = sorted(set(chosen) - set(CHECKS))
    if unknown:
        raise AspInputError(f"Unknown checks {unknown}; known: {', '.join(CHECKS)}.")
    watched = list(processors)
    if not watched or not all(isinstance(p, AspProcessor) for p in watched):
        raise AspInputError("processors must be a non-empty list of AspProcessor.")
    names = [p.name for p in watched]
    if len(set(names)) != len(names):
        raise AspInputError("processors must have distinct names.")
    tr = translator or DagsterAspTranslator()
    keys = {p.name: [spec.key for spec in tr.get_asset_specs(p)] for p in watched}
    budget = common.budget_seconds(budget_seconds)

    @dg.sensor(
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        required_resource_keys={resource_key},
        default_status=default_status,
        description=description or "Observes stream processors' stats and checks them.",
    )
    def _stats_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        resource = common.workspace(context, resource_key)
        return stats_tick(context, resource, watched, keys, chosen, budget)

    return _stats_sensor


def stats_tick(
    context: dg.SensorEvaluationContext,
    resource: AspWorkspace,
    processors: Sequence[AspProcessor],
    keys: Mapping[str, Sequence[dg.AssetKey]],
    checks: Sequence[str],
    budget_seconds: float,
) -> dg.SensorResult:
    budget = common.start_budget(budget_seconds)
    saved = cursors.load(context.cursor, KIND)
    memory: dict[str, Any] = saved.get("c", {}) if isinstance(saved.get("c"), dict) else {}
    start = saved.get("next", 0)
    start = start if isinstance(start, int) and 0 <= start < len(processors) else 0
    order = list(processors[start:]) + list(processors[:start])
    kept = {p.name: memory[p.name] for p in processors if p.name in memory}
    events: list[Any] = []
    done = 0
    for processor in order:
        if done and common.out_of_time(budget):
            context.log.info("Tick budget spent: %d processor(s) wait.", len(order) - done)
            break
        try:
            reply = _stats(resource, processor.name)
        except Exception as exc:
            raise common.failed_read(
                resource, exc, f"reading the stats of {processor.name!r}"
            ) from None
        done += 1
        state = None if reply is None else stats_state(reply)
        stats = {} if reply is None else stats_document(reply)
        counts = {short: count(stats, field) for short, field in KEPT.items()}
        previous = memory.get(processor.name)
        previous = previous if isinstance(previous, dict) else None
        events.extend(
            _events(processor, keys[processor.name], state, stats, counts, previous, checks)
        )
        kept[processor.name] = counts if reply is not None else {}
    data = {"c": kept, "next": (start + done) % len(processors)}
    return dg.SensorResult(asset_events=events, cursor=cursors.dump(KIND, data))


def _stats(resource: AspWorkspace, name: str) -> Optional[dict[str, Any]]:  # noqa: UP045
    try:
        return resource.get_client().stream_processors().get(name).stats()
    except Exception as exc:
        if state_names.is_not_found(exc):
            return None
        raise


def _events(
    processor: AspProcessor,
    keys: Sequence[dg.AssetKey],
    state: Optional[str],  # noqa: UP045
    stats: Mapping[str, Any],
    counts: Mapping[str, int],
    previous: Optional[Mapping[str, int]],  # noqa: UP045
    checks: Sequence[str],
) -> list[Any]:
    metadata: dict[str, Any] = {
        "asp/processor": processor.name,
        "asp/state": state if state is not None else "MISSING",
    }
    for field, value in sorted(stats.items()):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            metadata[f"asp/{field}"] = int(value) if isinstance(value, int) else float(value)
    events: list[Any] = []
    for key in keys:
        events.append(dg.AssetObservation(asset_key=key, metadata=metadata))
        for check in checks:
            judgement = judge(check, processor, state, counts, previous)
            judgement = dataclasses.replace(
                judgement,
                metadata={
                    **judgement.metadata,
                    "asp/processor": processor.name,
                    "asp/state": metadata["asp/state"],
                    **{f"asp/{KEPT[k]}": v for k, v in counts.items()},
                },
            )
            events.append(check_evaluation(judgement, key, check))
    return events
