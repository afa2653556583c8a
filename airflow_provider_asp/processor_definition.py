"""A processor's desired definition, and how it differs from what the workspace holds.

Pipelines are compared with their key order (``$sort`` and ``$project`` depend on it),
never through sorted-key JSON. Only what ``modifyStreamProcessor`` can change is compared
(pipeline, dlq, tier); options set at creation only (``streamMetaFieldName``, failover)
are not, since a workspace need not report them. Pure: no pymongo.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_asp.stream_processing import StreamProcessorInfo


def same_document(left: Any, right: Any) -> bool:
    """Equal values, with mapping keys in the same order at every level."""
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return list(left) == list(right) and all(
            same_document(left[key], right[key]) for key in left
        )
    if isinstance(left, Sequence) and not isinstance(left, str):
        if not isinstance(right, Sequence) or isinstance(right, str) or len(left) != len(right):
            return False
        return all(same_document(a, b) for a, b in zip(left, right, strict=True))
    return bool(left == right)


@dataclasses.dataclass(frozen=True)
class ProcessorDefinition:
    """What a processor should be, as far as the caller manages it: None leaves a field
    alone, and ``dlq={}`` means "no dead letter queue".
    """

    pipeline: list[dict[str, Any]] | None
    dlq: dict[str, Any] | None = None
    tier: str | None = None

    def differences(self, info: StreamProcessorInfo) -> list[str]:
        """The fields of this definition that the processor ``info`` does not match."""
        found = []
        if self.pipeline is not None and not same_document(self.pipeline, info.pipeline):
            found.append("pipeline")
        if self.dlq is not None and (self.dlq or None) != (info.dlq or None):
            found.append("dlq")
        if self.tier is not None and self.tier != info.tier:
            found.append("tier")
        return found

    def changes(self, differences: list[str]) -> dict[str, Any]:
        """Keyword arguments of ``StreamProcessor.modify`` for these differences."""
        return {field: getattr(self, field) for field in differences}
