"""Reading command arguments: processor names, options in either placement, tiers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from asp_emulator.errors import FAILED_TO_PARSE, PROCESSOR_INVALID_OPTIONS, CommandError

TIERS = ("SP2", "SP5", "SP10", "SP30", "SP50")


def now() -> datetime:
    """The current time, UTC, at millisecond precision (what BSON keeps)."""
    moment = datetime.now(timezone.utc)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def processor_name(command: Mapping[str, Any], key: str) -> str:
    """The processor name that is the value of the command ``key``."""
    name = command.get(key)
    if not isinstance(name, str) or not name.strip():
        raise CommandError(FAILED_TO_PARSE, f"{key}: the processor name must be a non-empty string")
    return name


def option(command: Mapping[str, Any], key: str) -> Any:
    """An option given at the top level or under ``options`` (clients disagree on placement)."""
    options = command.get("options")
    if isinstance(options, Mapping) and key in options:
        return options[key]
    return command.get(key)


def check_type(key: str, value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    """``value`` if it is None or a ``kind`` (booleans only where ``kind`` is bool)."""
    if value is not None and (
        not isinstance(value, kind) or isinstance(value, bool) != (kind is bool)
    ):
        raise CommandError(PROCESSOR_INVALID_OPTIONS, f"option {key} must be {what}")
    return value


def positive_int(key: str, value: Any, *, allow_zero: bool = False) -> int | None:
    """``value`` as an int (an integral double is accepted), None when absent."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < (0 if allow_zero else 1):
        bound = "a non-negative integer" if allow_zero else "a positive integer"
        raise CommandError(PROCESSOR_INVALID_OPTIONS, f"option {key} must be {bound}")
    return int(value)


@dataclass
class WorkspaceDefaults:
    """The workspace's tier settings (``listWorkspaceDefaults``)."""

    default_tier: str = "SP10"
    max_tier: str = "SP50"

    def check_tier(self, value: Any) -> str | None:
        """Validate a tier option: one of SP2..SP50 and not above the workspace maximum."""
        if value is None:
            return None
        if value not in TIERS:
            raise CommandError(
                PROCESSOR_INVALID_OPTIONS,
                f"invalid tier {value!r}: expected one of {', '.join(TIERS)}",
            )
        if TIERS.index(value) > TIERS.index(self.max_tier):
            raise CommandError(
                PROCESSOR_INVALID_OPTIONS,
                f"tier {value} exceeds the workspace's maximum tier {self.max_tier}",
            )
        return str(value)
