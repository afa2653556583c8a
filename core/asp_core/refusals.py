"""A workspace's refusal of a processor's definition, in a user's words.

The server refuses a pipeline it cannot parse with ``FailedToParse`` (code 9) and options it
cannot take with ``InvalidOptions`` (code 72), and counts stages from 0
(``stage 1: unknown stage '$matchh'``). :func:`refusal_error` makes that an
:class:`~asp_core.errors.AspDefinitionRefusedError` (no retry fixes it) naming the processor,
the stage as a user counts it (from 1) with its operator, the closest known stage for an
unknown one, and the server's own words.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from asp_core.errors import AspDefinitionRefusedError

#: Codes of a refused definition: FailedToParse, InvalidOptions.
REFUSAL_CODES = frozenset({9, 72})

#: The stages Atlas Stream Processing knows (top level and inside windows).
KNOWN_STAGES = frozenset(
    {
        "$source",
        "$validate",
        "$match",
        "$project",
        "$addFields",
        "$set",
        "$unset",
        "$replaceRoot",
        "$replaceWith",
        "$unwind",
        "$redact",
        "$lookup",
        "$cachedLookup",
        "$https",
        "$externalFunction",
        "$function",
        "$tumblingWindow",
        "$hoppingWindow",
        "$sessionWindow",
        "$group",
        "$sort",
        "$limit",
        "$skip",
        "$count",
        "$bucket",
        "$bucketAuto",
        "$sortByCount",
        "$facet",
        "$setStreamMeta",
        "$throttle",
        "$vectorSearch",
        "$emit",
        "$merge",
        "$out",
    }
)

_STAGE_INDEX = re.compile(r"\bstage (\d+)\b")


def is_refusal(exc: BaseException) -> bool:
    """Whether ``exc`` is the server refusing a definition (see :data:`REFUSAL_CODES`)."""
    from pymongo.errors import OperationFailure

    return isinstance(exc, OperationFailure) and exc.code in REFUSAL_CODES


def operator_of(stage: Any) -> str | None:
    """A stage document's operator (``{"$match": {...}}`` -> ``$match``), or None."""
    if isinstance(stage, Mapping) and len(stage) == 1:
        (key,) = stage
        return str(key)
    return None


def closest_stage(operator: str) -> str | None:
    """The known stage closest to an unknown ``operator``; None for a known one or none close."""
    if operator in KNOWN_STAGES:
        return None
    close = difflib.get_close_matches(operator, sorted(KNOWN_STAGES), n=1, cutoff=0.6)
    return close[0] if close else None


def refused_index(message: str, pipeline: Sequence[Any]) -> int | None:
    """The index (from 0) of the stage a refusal is about: the one the server names, else
    the first with an unknown operator; None when neither is found."""
    found = _STAGE_INDEX.search(message)
    if found is not None and int(found.group(1)) < len(pipeline):
        return int(found.group(1))
    for index, stage in enumerate(pipeline):
        operator = operator_of(stage)
        if operator is not None and operator not in KNOWN_STAGES:
            return index
    return None


def refusal_error(
    name: str, exc: BaseException, pipeline: Sequence[Any] | None
) -> AspDefinitionRefusedError | None:
    """For the server refusing processor ``name``'s definition (``pipeline``: the one sent,
    if any), the error in a user's words; None for any other error."""
    from asp_core.waiting.verdict import describe_error

    if not is_refusal(exc):
        return None
    stages = list(pipeline or ())
    server = describe_error(exc)
    index = refused_index(str(exc), stages)
    if index is None:
        return AspDefinitionRefusedError(
            f"Stream processor {name!r}: the workspace refused its definition. "
            f"The server said: {server}",
            processor_name=name,
        )
    operator = operator_of(stages[index]) or "?"
    suggestion = closest_stage(operator)
    if operator in KNOWN_STAGES or operator == "?":
        hint = ""
    elif suggestion is None:
        hint = f" `{operator}` is not a known stage."
    else:
        hint = f" `{operator}` is not a known stage: did you mean `{suggestion}`?"
    counted = " (it counts stages from 0)" if _STAGE_INDEX.search(str(exc)) else ""
    return AspDefinitionRefusedError(
        f"Stream processor {name!r}: the workspace refused stage {index + 1} of "
        f"{len(stages)} (`{operator}`) of its pipeline.{hint} "
        f"The server said{counted}: {server}",
        processor_name=name,
        stage=index + 1,
        operator=operator,
        suggestion=suggestion,
    )
