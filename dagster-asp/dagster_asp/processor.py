"""``AspProcessor``: a stream processor as Dagster code declares it."""

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from asp_core import arguments
from asp_core.errors import AspInputError
from asp_core.lineage import PipelineLineage, pipeline_lineage
from asp_core.waiting import states

#: The states a processor can be asked to be in.
DESIRED_STATES = (states.STARTED, states.STOPPED)


@dataclasses.dataclass(frozen=True)
class AspProcessor:
    """A processor: its ``name``, ``pipeline``, create ``options`` (``dlq``, ``tier``,
    ``stream_meta_field_name``, ``failover``) and the state it should be in (``STARTED`` or
    ``STOPPED``). Checked when made, with the core's checks: a definition that loads is one
    that can be sent."""

    name: str
    pipeline: Sequence[Mapping[str, Any]]
    options: Optional[Mapping[str, Any]] = None  # noqa: UP045
    desired_state: str = states.STARTED

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", arguments.processor_name(self.name, "name"))
        object.__setattr__(self, "pipeline", arguments.pipeline(list(self.pipeline)))
        options = dict(self.options or {})
        unknown = sorted(set(options) - {"dlq", "tier", "stream_meta_field_name", "failover"})
        if unknown:
            raise AspInputError(
                f"options of {self.name!r}: unknown {', '.join(unknown)}; "
                "known: dlq, tier, stream_meta_field_name, failover."
            )
        if "dlq" in options:
            options["dlq"] = arguments.document(options["dlq"], "dlq")
        object.__setattr__(self, "options", options)
        desired = states.normalize_state(self.desired_state)
        if desired not in DESIRED_STATES:
            raise AspInputError(
                f"desired_state of {self.name!r} must be STARTED or STOPPED, "
                f"not {self.desired_state!r}."
            )
        object.__setattr__(self, "desired_state", desired)

    @property
    def dlq(self) -> Optional[dict[str, Any]]:  # noqa: UP045
        """The dead letter queue ``{connectionName, db, coll}``, if any."""
        return (self.options or {}).get("dlq") or None

    def lineage(self) -> PipelineLineage:
        """What the processor reads and writes, by connection (no workspace needed)."""
        return pipeline_lineage(self.pipeline, self.dlq, workspace="")
