"""Where an event trigger keeps its memory, for each supported Airflow (``>=3.0,<4``): the
installed Airflow's own store as its triggerer builds it, and the plain inputs that stand for
the others (no store before 3.3; a store without per-asset tables)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from airflow.sdk import Asset
from airflow.sdk.execution_time.context import AssetStateStoreAccessor, AssetStateStoreAccessors

from airflow_provider_asp.triggers import state_store
from airflow_provider_asp.triggers.events import AspProcessorStateEventTrigger
from airflow_provider_asp.triggers.state_store import TriggerMemory, asset_accessors
from airflow_provider_asp.version_compat import AIRFLOW_V_3_3_PLUS

LOG = logging.getLogger(__name__)

installed_3_3_plus = pytest.mark.skipif(
    not AIRFLOW_V_3_3_PLUS, reason="the asset state store came with Airflow 3.3"
)


def watched(*names: str) -> AssetStateStoreAccessors:
    """The store the triggerer gives a watcher of these assets (``watched_assets``)."""
    return AssetStateStoreAccessors(inlets=[Asset(name=n, uri=f"x-asp://{n}") for n in names])


# -- the installed Airflow ---------------------------------------------------------------------
@installed_3_3_plus
def test_a_watcher_of_one_asset_keeps_its_memory_in_the_store_itself():
    trigger = AspProcessorStateEventTrigger(processor_name="p")
    trigger.asset_state_store = watched("a")  # as the triggerer does before run()
    assert asset_accessors(trigger) == [trigger.asset_state_store]


@installed_3_3_plus
def test_a_watcher_shared_by_two_assets_keeps_its_memory_in_each_assets_store():
    trigger = AspProcessorStateEventTrigger(processor_name="p")
    trigger.asset_state_store = watched("a", "b")
    # The installed Airflow still has the tables read: otherwise this is one store, which
    # refuses to choose between two assets, and a restart would tell a failure again.
    assert asset_accessors(trigger) == [
        AssetStateStoreAccessor(name="a"),
        AssetStateStoreAccessor(name="b"),
    ]


@installed_3_3_plus
def test_a_trigger_not_run_by_the_triggerer_has_no_store():
    trigger = AspProcessorStateEventTrigger(processor_name="p")
    assert trigger.asset_state_store is None  # dag.test(), a trigger run by hand
    assert asset_accessors(trigger) == []


# -- the other supported versions, as plain inputs ---------------------------------------------
class Before33:
    """A trigger of Airflow 3.0 to 3.2: ``BaseEventTrigger`` has no ``asset_state_store``."""


class PlainStore:
    """A store that lists no assets (a later Airflow 3 without ``_by_name``/``_by_uri``)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def aget(self, key: str) -> Any:
        return self.values.get(key)

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = value


class WithPlainStore:
    def __init__(self, store: PlainStore) -> None:
        self.asset_state_store = store


async def test_before_airflow_3_3_the_memory_is_in_memory_only():
    assert asset_accessors(Before33()) == []
    memory = TriggerMemory(Before33(), "asp_state:p:k", LOG)
    assert await memory.load() == {}
    await memory.save({"last_key": "FAILED@t1"})  # nowhere to write: no error
    assert await memory.load() == {}  # a restart (a new memory) starts afresh
    assert await TriggerMemory(Before33(), "asp_state:p:k", LOG).load() == {}


async def test_a_store_without_per_asset_tables_is_used_as_it_is():
    store = PlainStore()
    assert asset_accessors(WithPlainStore(store)) == [store]
    await TriggerMemory(WithPlainStore(store), "k", LOG).save({"base": 300})
    assert store.values == {"k": {"base": 300}}
    assert await TriggerMemory(WithPlainStore(store), "k", LOG).load() == {"base": 300}


class SlowFirstStore:
    """A store whose first read does not answer (a triggerer's supervisor building its API on
    first use), and whose later reads give what was saved."""

    def __init__(self, value: dict[str, Any]) -> None:
        self.value = value
        self.reads = 0

    async def aget(self, key: str) -> Any:
        self.reads += 1
        if self.reads == 1:
            await asyncio.Event().wait()  # never answers
        return self.value

    async def aset(self, key: str, value: Any) -> None:
        self.value = value


class Holder:
    """What the trigger gives ``asset_accessors``: its ``asset_state_store``."""

    def __init__(self, store: Any) -> None:
        self.asset_state_store = store


async def test_a_store_slow_on_its_first_read_is_asked_again(monkeypatch):
    monkeypatch.setattr(state_store, "MEMORY_TIMEOUT", 0.05)
    store = SlowFirstStore({"sent": ["d1", "d2"]})
    memory = TriggerMemory(Holder(store), "asp_output:p:x", LOG)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await memory.load() == {"sent": ["d1", "d2"]}  # not {}: nothing is sent again
    assert store.reads == 2
    assert loop.time() - started < state_store.MEMORY_LOAD_BOUND


async def test_a_store_that_never_answers_is_given_up_within_the_bound(monkeypatch, caplog):
    monkeypatch.setattr(state_store, "MEMORY_TIMEOUT", 0.01)
    monkeypatch.setattr(state_store, "MEMORY_LOAD_BOUND", 0.5)

    class Silent:
        reads = 0

        async def aget(self, key: str) -> Any:
            Silent.reads += 1
            await asyncio.Event().wait()

    memory = TriggerMemory(Holder(Silent()), "k", LOG)
    with caplog.at_level(logging.WARNING):
        assert await memory.load() == {}
    assert Silent.reads >= 1
    assert "Could not read the asset state store: TimeoutError" in caplog.text
