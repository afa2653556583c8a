"""Is a processor healthy? Two judgements any orchestrator turns into its own checks. Pure.

- :func:`judge_processor_running`: the processor is in the state it should be in.
- :func:`judge_dlq_not_growing`: its dead letter queue counter did not grow since the last
  judgement (the first judgement, with nothing to compare with, passes).

Each returns a :class:`Judgement` (passed, severity, description, JSON metadata); Dagster
makes an ``AssetCheckResult`` or a runless ``AssetCheckEvaluation`` of it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from asp_core.waiting import states
from asp_core.waiting.conditions import DLQ_FIELD, count, stats_document

#: Severities, as Dagster names them.
ERROR, WARN = "ERROR", "WARN"
#: The metadata key holding the DLQ counter a judgement saw (what the next one compares with).
DLQ_COUNT_KEY = "asp/dlq_message_count"


@dataclasses.dataclass(frozen=True)
class Judgement:
    """A check's outcome: ``passed``, how bad a failure is (``ERROR`` or ``WARN``), one
    sentence, and metadata (plain JSON values)."""

    passed: bool
    severity: str
    description: str
    metadata: dict[str, Any]


def judge_processor_running(
    name: str, info: Mapping[str, Any] | None, desired_state: str = states.STARTED
) -> Judgement:
    """Whether processor ``name`` (``info``: its info as plain JSON, None: missing) is in
    ``desired_state`` (STARTED; or STOPPED: any state that is not running). A FAILED
    processor fails with the server's ``errorMsg``."""
    desired = states.normalize_state(desired_state)
    if info is None:
        return Judgement(False, ERROR, f"Stream processor {name!r} does not exist.", {})
    state = states.normalize_state(str(info.get("state") or ""))
    metadata: dict[str, Any] = {"asp/state": state, "asp/desired_state": desired}
    if info.get("last_state_change") is not None:
        metadata["asp/last_state_change"] = str(info["last_state_change"])
    running = states.is_running(state)
    if states.is_failed(state):
        message = info.get("error_msg") or "(no message)"
        metadata["asp/error_msg"] = str(message)
        metadata["asp/error_code"] = info.get("error_code")
        return Judgement(False, ERROR, f"Stream processor {name!r} FAILED: {message}", metadata)
    if running == (desired == states.STARTED):
        return Judgement(True, ERROR, f"Stream processor {name!r} is {state}.", metadata)
    return Judgement(
        False, ERROR, f"Stream processor {name!r} is {state}, not {desired}.", metadata
    )


def judge_dlq_not_growing(
    name: str, stats: Mapping[str, Any], previous_count: int | None
) -> Judgement:
    """Whether processor ``name``'s ``dlqMessageCount`` (``stats``: a
    ``getStreamProcessorStats`` reply, flat or under ``stats``) grew past
    ``previous_count``, the count of the last judgement (None: none yet, which passes). A
    smaller count (the processor was recreated) passes. Severity WARN: the processor runs."""
    dlq = count(stats_document(stats), DLQ_FIELD)
    metadata: dict[str, Any] = {DLQ_COUNT_KEY: dlq}
    if previous_count is None:
        return Judgement(
            True,
            WARN,
            f"Stream processor {name!r} has {dlq} DLQ message(s) (first look).",
            metadata,
        )
    metadata["asp/previous_dlq_message_count"] = previous_count
    grew = dlq - previous_count
    if grew > 0:
        return Judgement(
            False,
            WARN,
            f"Stream processor {name!r} sent {grew} more message(s) to its dead letter queue "
            f"({previous_count} -> {dlq}).",
            metadata,
        )
    return Judgement(
        True, WARN, f"Stream processor {name!r}'s DLQ did not grow ({dlq} message(s)).", metadata
    )


def judge_has_throughput(
    name: str, state: str | None, inputs: int, previous_inputs: int | None
) -> Judgement:
    """Whether a running processor ``name`` read input since the last judgement
    (``previous_inputs``: its ``inputMessageCount`` then; None: first look, which passes). A
    processor that is not running (or missing, ``state`` None) expects none: passes. WARN."""
    metadata: dict[str, Any] = {"asp/inputMessageCount": inputs}
    if state is None or previous_inputs is None:
        return Judgement(True, WARN, f"Stream processor {name!r}: first look.", metadata)
    if not states.is_running(state):
        return Judgement(
            True,
            WARN,
            f"Stream processor {name!r} is not running: no throughput expected.",
            metadata,
        )
    moved = inputs - previous_inputs
    return Judgement(
        moved > 0,
        WARN,
        f"Stream processor {name!r} read {moved} input message(s) since the last look.",
        metadata,
    )
