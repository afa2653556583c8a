"""The watched assets' state store (Airflow 3.3+): what an event trigger remembers across
triggerer restarts.

Airflow 3.3 injects ``asset_state_store`` into an event trigger that watches assets, before
``run()``. Earlier versions have no store, and neither have ``dag.test()`` nor a trigger run
by hand: then a trigger remembers in memory only, until it ends.

Importing this module imports neither pymongo nor the hook.
"""

from __future__ import annotations

import asyncio
from typing import Any

from asp_core.waiting.deadline import raise_if_cancelled

#: Bound on one read or write of the asset state store (seconds).
MEMORY_TIMEOUT = 10.0
#: How long a watcher keeps trying to read its memory before it goes on without it (seconds).
#: A triggerer's supervisor answers the first state-store requests through an API it builds
#: on first use: measured 7 s idle and 6-15 s under load. A watcher that gave up at the first
#: timeout would resend what it had sent (the output watcher) or tell a failure again.
MEMORY_LOAD_BOUND = 60.0


def asset_accessors(trigger: object) -> list[Any]:
    """The state stores to keep ``trigger``'s memory in: one per asset it watches. The one
    place that knows how each supported Airflow gives them:

    - no ``asset_state_store`` (Airflow 3.0 to 3.2), or None (not run by the triggerer for
      a watcher: ``dag.test()``, a trigger run by hand): none, so memory only.
    - one watched asset: the store itself.
    - several (identical watchers of two assets share one trigger): Airflow 3.3 offers no
      public way to list them, so each asset's accessor is read from the store's own tables
      (``_by_name``, ``_by_uri``). A store without them is used as it is (should it refuse to
      choose an asset, its errors are logged and the memory is in memory only).
    """
    store = getattr(trigger, "asset_state_store", None)
    if store is None:
        return []
    per_asset = [
        *getattr(store, "_by_name", {}).values(),
        *getattr(store, "_by_uri", {}).values(),
    ]
    return per_asset if len(per_asset) > 1 else [store]


class TriggerMemory:
    """A few JSON values a watcher keeps across triggerer restarts, under one key of each
    watched asset's state store. Without a store it lives in memory only; its errors are
    logged, never raised."""

    def __init__(self, trigger: object, key: str, log: Any) -> None:
        self._trigger = trigger
        self.key = key
        self._log = log
        self._saved: Any = None

    async def load(self) -> dict[str, Any]:
        """What was saved last (``{}`` if nothing). A store that fails or does not answer is
        asked again (each read bounded by :data:`MEMORY_TIMEOUT`, the pause doubling from
        1 s) until :data:`MEMORY_LOAD_BOUND` has passed; then the watcher goes on without."""
        accessors = asset_accessors(self._trigger)
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + MEMORY_LOAD_BOUND
        pause = 1.0
        while accessors:
            failed = []
            for accessor in accessors:
                try:
                    value = await asyncio.wait_for(accessor.aget(self.key), MEMORY_TIMEOUT)
                except Exception as exc:
                    self._log.warning(
                        "Could not read the asset state store: %s", str(exc) or type(exc).__name__
                    )
                    failed.append(accessor)
                    continue
                finally:
                    raise_if_cancelled()
                if isinstance(value, dict):
                    self._saved = value
                    return dict(value)
            left = give_up_at - loop.time()
            if not failed or left <= 0:
                break
            if left <= pause:
                self._log.warning("Going on without the memory of %r.", self.key)
                break
            await asyncio.sleep(pause)
            pause = min(pause * 2, 10.0)
            accessors = failed
        return {}

    async def save(self, value: dict[str, Any]) -> None:
        """Save ``value`` unless it is what was saved last."""
        if value == self._saved:
            return
        for accessor in asset_accessors(self._trigger):
            try:
                await asyncio.wait_for(accessor.aset(self.key, value), MEMORY_TIMEOUT)
            except Exception as exc:
                self._log.warning("Could not write the asset state store: %s", exc)
            raise_if_cancelled()
        self._saved = value
