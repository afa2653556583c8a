"""The demo: a local ASP workspace, and one processor walked through its life with pymongo.

Run with ``make demo``. Starts the emulator (TLS, SCRAM user), creates a processor on the
built-in ``sample_stream_solar`` source, starts it, samples its output, reads its stats,
stops and drops it, and shuts the emulator down. Nothing is left running.
"""

from __future__ import annotations

import json
import time
from typing import Any

from pymongo import MongoClient

from airflow_provider_asp.emulator import Workspace

PIPELINE: list[dict[str, Any]] = [
    {"$source": {"connectionName": "sample_stream_solar"}},
    {"$match": {"obs.watts": {"$gte": 100}}},
    {"$addFields": {"kilowatts": {"$divide": ["$obs.watts", 1000]}}},
    {"$emit": {"connectionName": "__testLog"}},
]


def say(step: str, detail: Any = "") -> None:
    """Print one line of the account."""
    text = detail if isinstance(detail, str) else json.dumps(detail, default=str)
    print(f"  {step:<10} {text}")


def main() -> None:
    """Run the demo."""
    with Workspace(users={"demo": "demo-password"}) as ws:
        print(f"ASP emulator listening on {ws.host}:{ws.port} (TLS, CA {ws.ca_file})")
        with MongoClient[dict[str, Any]](ws.uri) as client:
            admin = client.admin
            name = "solarDemo"
            admin.command({"createStreamProcessor": name, "pipeline": PIPELINE})
            say(
                "create",
                f"{name}: {admin.command({'getStreamProcessor': name})['result']['state']}",
            )
            admin.command({"startStreamProcessor": name})
            say(
                "start", f"{name}: {admin.command({'getStreamProcessor': name})['result']['state']}"
            )
            cursor = admin.command({"startSampleStreamProcessor": name, "limit": 3})["cursorId"]
            samples: list[dict[str, Any]] = []
            deadline = time.monotonic() + 30
            while cursor and time.monotonic() < deadline:
                reply = admin.command({"getMoreSampleStreamProcessor": name, "cursorId": cursor})
                samples.extend(reply["messages"])
                cursor = reply["cursorId"]
                time.sleep(0.1)
            for doc in samples:
                say("sample", {k: doc[k] for k in ("device_id", "obs", "kilowatts")})
            stats = admin.command({"getStreamProcessorStats": name})["stats"]
            say(
                "stats",
                {
                    k: stats[k]
                    for k in ("inputMessageCount", "outputMessageCount", "dlqMessageCount")
                },
            )
            admin.command({"stopStreamProcessor": name})
            say("stop", f"{name}: {admin.command({'getStreamProcessor': name})['result']['state']}")
            admin.command({"dropStreamProcessor": name})
            left = admin.command({"listStreamProcessors": 1})["streamProcessors"]
            say("drop", f"{name} dropped; processors left: {len(left)}")
    print("ASP emulator stopped.")


if __name__ == "__main__":
    main()
