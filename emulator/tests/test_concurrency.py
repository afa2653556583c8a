"""Many clients at once, sync and async, each driving its own processors."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asp_emulator import Workspace
from pymongo import AsyncMongoClient, MongoClient


def lifecycle(ws: Workspace, name: str) -> str:
    with MongoClient[dict[str, Any]](ws.uri) as client:
        db = client.admin
        db.command(
            {"createStreamProcessor": name, "pipeline": [{"$source": {"documents": [{"x": 1}]}}]}
        )
        db.command({"startStreamProcessor": name})
        db.command({"stopStreamProcessor": name})
        state = db.command({"getStreamProcessor": name})["result"]["state"]
        db.command({"dropStreamProcessor": name})
        return str(state)


def test_parallel_sync_clients(workspace: Workspace) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        states = list(pool.map(lambda i: lifecycle(workspace, f"parallel-{i}"), range(16)))
    assert states == ["STOPPED"] * 16
    assert not [n for n in workspace.processors() if n.startswith("parallel-")]


async def test_parallel_async_commands_on_one_client(workspace: Workspace) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(workspace.uri, maxPoolSize=4)
    try:
        names = [f"async-{i}" for i in range(20)]
        await asyncio.gather(
            *(client.admin.command({"createStreamProcessor": n, "pipeline": []}) for n in names)
        )
        listed = await client.admin.command(
            {"listStreamProcessors": 1, "filter": {"name": {"$regex": "^async-"}}}
        )
        assert sorted(p["name"] for p in listed["streamProcessors"]) == sorted(names)
        await asyncio.gather(*(client.admin.command({"dropStreamProcessor": n}) for n in names))
    finally:
        await client.close()
