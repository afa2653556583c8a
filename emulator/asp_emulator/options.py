"""The workspace's settings that commands consult: the clock at BSON precision, the tiers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from asp_emulator.errors import PROCESSOR_INVALID_OPTIONS, CommandError

TIERS = ("SP2", "SP5", "SP10", "SP30", "SP50")


def now() -> datetime:
    """The current time, UTC, at millisecond precision (what BSON keeps)."""
    moment = datetime.now(timezone.utc)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@dataclass
class WorkspaceDefaults:
    """The workspace's tier settings (``listWorkspaceDefaults``)."""

    default_tier: str = "SP10"
    max_tier: str = "SP50"

    def check_tier(self, tier: str | None) -> str | None:
        """``tier`` (one of :data:`TIERS`, or None) if it is not above the workspace maximum."""
        if tier is not None and TIERS.index(tier) > TIERS.index(self.max_tier):
            raise CommandError(
                PROCESSOR_INVALID_OPTIONS,
                f"tier {tier} exceeds the workspace's maximum tier {self.max_tier}",
            )
        return tier
