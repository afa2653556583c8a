"""The state vocabulary of a stream processor, in one place.

States are open strings (the service may add some); these are the ones the provider reasons
about. Older services spelled STARTED as RUNNING and FAILED as ERROR: :func:`normalize_state`
maps them. Pure: no pymongo.
"""

from __future__ import annotations

from collections.abc import Iterable

CREATED = "CREATED"
STARTED = "STARTED"
STOPPED = "STOPPED"
FAILED = "FAILED"

#: Spellings older services used: RUNNING became STARTED, ERROR became FAILED.
STATE_SYNONYMS: dict[str, str] = {"RUNNING": STARTED, "ERROR": FAILED}
#: The processor consumes its sources.
RUNNING_STATES: frozenset[str] = frozenset({STARTED})
#: Defined, not running, and not failed: nothing to stop.
IDLE_STATES: frozenset[str] = frozenset({CREATED, STOPPED})
FAILURE_STATES: frozenset[str] = frozenset({FAILED})
#: States a deploy can aim for.
DESIRED_STATES: tuple[str, ...] = (STARTED, STOPPED)

#: "Stream processor does not exist": the server's code, and the engine's older one.
NOT_FOUND_CODES: frozenset[int] = frozenset({415, 1_000_000})


def normalize_state(state: str) -> str:
    """The state in upper case, with old synonyms mapped (``running`` -> ``STARTED``)."""
    upper = state.strip().upper()
    return STATE_SYNONYMS.get(upper, upper)


def normalize_states(states: str | Iterable[str]) -> frozenset[str]:
    """A state or states, each normalized (``("running",)`` -> ``{"STARTED"}``)."""
    return frozenset(normalize_state(s) for s in ([states] if isinstance(states, str) else states))


def is_running(state: str) -> bool:
    return normalize_state(state) in RUNNING_STATES


def is_failed(state: str) -> bool:
    return normalize_state(state) in FAILURE_STATES


def is_not_found(exc: BaseException) -> bool:
    """Whether a server error says the processor does not exist."""
    code = getattr(exc, "code", None)
    return (isinstance(code, int) and code in NOT_FOUND_CODES) or "does not exist" in str(
        exc
    ).lower()
