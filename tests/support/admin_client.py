"""Helpers of the Admin API client tests: unique names, a bounded wait, and the options of a
client of an emulated project (its CA, a token cache of its own, a short backoff)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from asp_core.admin import TokenCache
from asp_emulator import Workspace


def unique(prefix: str) -> str:
    """``prefix`` and 8 random hex digits: a name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_until(condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    """``condition()``'s first truthy value; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)
    return value


def client_options(ws: Workspace, **options: Any) -> dict[str, Any]:
    """Keyword arguments of an ``AdminClient``/``AsyncAdminClient`` of ``ws``'s project:
    ``options`` over the defaults (a fresh token cache, so token counts are the test's own;
    backoff 0.01 s; timeout 10 s)."""
    return {
        "base_url": ws.admin_url,
        "ca_file": ws.ca_file,
        "token_cache": TokenCache(),
        "backoff": 0.01,
        "timeout": 10.0,
        **options,
    }
