"""Asset checks of processor assets: ``processor_running`` and ``dlq_not_growing``.

Every asset a processor writes carries both checks. The judgement itself is the core's
(:mod:`asp_core.health`, orchestrator-neutral); this module turns it into Dagster's events:
an ``AssetCheckResult`` after a deploy, or a runless ``AssetCheckEvaluation`` (what a sensor
emits): :func:`evaluate_processor_running` and :func:`evaluate_dlq_not_growing`.

``dlq_not_growing`` compares the ``dlqMessageCount`` of the stats with the count stored in
the metadata (``asp/dlq_message_count``) of the check's last completed evaluation, run or
runless (:func:`previous_dlq_count`); the first evaluation passes.
"""

from collections.abc import Iterable, Mapping
from typing import Any, Optional

import dagster as dg

from asp_core.health import (
    DLQ_COUNT_KEY,
    Judgement,
    judge_dlq_not_growing,
    judge_processor_running,
)

PROCESSOR_RUNNING = "processor_running"
DLQ_NOT_GROWING = "dlq_not_growing"
CHECK_NAMES = (PROCESSOR_RUNNING, DLQ_NOT_GROWING)


def asp_check_specs(asset_keys: Iterable[dg.AssetKey]) -> list[dg.AssetCheckSpec]:
    """Both checks on each of a processor's assets."""
    return [
        dg.AssetCheckSpec(name, asset=key, description=_DESCRIPTIONS[name])
        for key in asset_keys
        for name in CHECK_NAMES
    ]


def _check_fields(judgement: Judgement, asset_key: dg.AssetKey, check_name: str) -> dict[str, Any]:
    """What an evaluation and a result of the check both carry."""
    return {
        "asset_key": asset_key,
        "check_name": check_name,
        "passed": judgement.passed,
        "metadata": judgement.metadata,
        "severity": dg.AssetCheckSeverity(judgement.severity),
        "description": judgement.description,
    }


def check_evaluation(
    judgement: Judgement, asset_key: dg.AssetKey, check_name: str
) -> dg.AssetCheckEvaluation:
    """A runless evaluation of the check (what a sensor yields in ``asset_events``)."""
    return dg.AssetCheckEvaluation(**_check_fields(judgement, asset_key, check_name))


def check_result(
    judgement: Judgement, asset_key: dg.AssetKey, check_name: str
) -> dg.AssetCheckResult:
    """The check's result inside a run (what the processor's multi-asset yields)."""
    return dg.AssetCheckResult(**_check_fields(judgement, asset_key, check_name))


def evaluate_processor_running(
    asset_key: dg.AssetKey,
    processor_name: str,
    info: Optional[Mapping[str, Any]],  # noqa: UP045
    desired_state: str = "STARTED",
) -> dg.AssetCheckEvaluation:
    """``processor_running`` of ``asset_key``: is the processor (``info``: its info as plain
    JSON, ``asp_core.waiting.verdict.info_to_dict``; None: missing) in ``desired_state``?"""
    judgement = judge_processor_running(processor_name, info, desired_state)
    return check_evaluation(judgement, asset_key, PROCESSOR_RUNNING)


def evaluate_dlq_not_growing(
    asset_key: dg.AssetKey,
    processor_name: str,
    stats: Mapping[str, Any],
    previous_count: Optional[int],  # noqa: UP045
) -> dg.AssetCheckEvaluation:
    """``dlq_not_growing`` of ``asset_key``: did ``dlqMessageCount`` of the stats (a
    ``getStreamProcessorStats`` reply) grow past ``previous_count`` (None: first, passes)?"""
    judgement = judge_dlq_not_growing(processor_name, stats, previous_count)
    return check_evaluation(judgement, asset_key, DLQ_NOT_GROWING)


def previous_dlq_count(instance: dg.DagsterInstance, asset_key: dg.AssetKey) -> Optional[int]:  # noqa: UP045
    """The DLQ count of the last completed ``dlq_not_growing`` evaluation of ``asset_key``
    (None: none yet)."""
    from dagster._core.storage.asset_check_execution_record import (
        COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES,
    )

    key = dg.AssetCheckKey(asset_key, DLQ_NOT_GROWING)
    records = instance.event_log_storage.get_asset_check_execution_history(
        key, limit=1, status=set(COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES)
    )
    for record in records:
        event = record.event.dagster_event if record.event is not None else None
        evaluation = getattr(event, "event_specific_data", None)
        value = getattr(evaluation, "metadata", {}).get(DLQ_COUNT_KEY)
        count = getattr(value, "value", None)
        if isinstance(count, int) and not isinstance(count, bool):
            return count
    return None


_DESCRIPTIONS = {
    PROCESSOR_RUNNING: "The stream processor writing this asset is in its desired state.",
    DLQ_NOT_GROWING: "The stream processor's dead letter queue did not grow since the last "
    "evaluation (the first evaluation passes).",
}
