"""Admin API requests per operation, through the core's client and deploy decisions, counted
by the emulator (its Admin API's request counts and issued tokens).

    python benchmarks/admin_requests.py [--connections 1000] [--threads 8] [--operations 25]

Rows: a token per credential across many operations and threads of one process; creating a
workspace and deploying a connection from nothing (the look, the write, the READY wait with
the emulator's ``admin_ready_delay``); a deploy of an unchanged connection (expected: one
GET; with secrets sent again, one GET and one PATCH); deleting and waiting until gone;
listing ``--connections`` connections at the client's default page size, Atlas's largest
(500); the first request of an API key (HTTP Digest's challenge). A script, not a
test: it prints figures and exits 0.
"""

from __future__ import annotations

import argparse
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from asp_core.admin import AdminClient, ApiKey, ServiceAccount
from asp_core.admin.apply import synchronous as apply
from asp_core.admin.pages import MAX_ITEMS_PER_PAGE
from asp_core.admin.waits import synchronous as waits
from asp_emulator import Workspace

READY_DELAY = 0.5  # seconds a new connection stays PENDING
POLL = 0.1  # seconds between two looks while waiting
KAFKA = {
    "type": "Kafka",
    "bootstrapServers": "broker1.example.com:9092",
    "authentication": {"mechanism": "SCRAM-512", "username": "etl"},
}
SECRETS = {"authentication.password": "bench-password"}


def deploy(
    client: AdminClient,
    workspace: str,
    name: str,
    definition: Mapping[str, Any],
    secrets: Mapping[str, Any] | None = None,
    *,
    update_secrets: bool = True,
) -> str:
    """The declarative deploy the orchestrators run (the core's: look, plan, send, wait)."""
    step = apply.deploy_connection(
        client,
        workspace,
        name,
        definition,
        secrets,
        update_secrets=update_secrets,
        timeout=60,
        poll_interval=POLL,
    )
    return step.action


def ensure_workspace(client: AdminClient, name: str) -> str:
    return apply.ensure_workspace(client, name, timeout=60, poll_interval=POLL).action


class Counter:
    """Requests the emulator received during each measured operation."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.rows: list[tuple[str, str, int, str, str]] = []

    def measure(
        self, operation: str, run: Callable[[], Any], expected: int | None, note: str = ""
    ) -> Any:
        """Run ``run`` and record the requests it caused; ``expected``: the exact count
        (None: reported, not checked, e.g. the looks of a wait)."""
        before = self.ws.admin_request_counts()
        started = time.perf_counter()
        value = run()
        elapsed = time.perf_counter() - started
        after = self.ws.admin_request_counts()
        sent = {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}
        total = sum(sent.values())
        detail = ", ".join(f"{k} x{n}" for k, n in sorted(sent.items()))
        if expected is None:
            verdict = note
        else:
            verdict = f"{expected} {note} {'ok' if total == expected else 'UNEXPECTED'}"
        self.rows.append((operation, detail, total, verdict.replace("  ", " "),
                          f"{elapsed * 1000:.0f} ms"))  # fmt: skip
        return value

    def print(self) -> None:
        print(f"  {'operation':<56} {'requests':>8} {'time':>7}  {'expected':<24} sent")
        for operation, detail, total, expected, elapsed in self.rows:
            print(f"  {operation:<56} {total:>8} {elapsed:>7}  {expected:<24} {detail}")


def tokens(ws: Workspace, threads: int, operations: int) -> None:
    """One token per credential for every client and thread of the process."""
    accounts = [ServiceAccount(*ws.service_account()) for _ in range(2)]
    issued = ws.admin_tokens_issued
    before = ws.admin_request_counts()

    def work(account: ServiceAccount) -> None:
        with AdminClient(
            ws.project_id, account, base_url=ws.admin_url, ca_file=ws.ca_file
        ) as client:
            for _ in range(operations):
                client.get_workspace(ws.workspace_name)

    workers = [
        threading.Thread(target=work, args=(accounts[i % 2],)) for i in range(threads)
    ]  # fmt: skip
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    after = ws.admin_request_counts()
    calls = after.get("GET workspace", 0) - before.get("GET workspace", 0)
    made = ws.admin_tokens_issued - issued
    print(
        f"Tokens: {threads} threads, each its own client, {operations} calls each, "
        f"2 service accounts: {calls} calls, {made} tokens issued (expected 2: one per "
        f"credential per process, valid an hour) -> {'ok' if made == 2 else 'UNEXPECTED'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--operations", type=int, default=25)
    args = parser.parse_args()
    with Workspace(
        admin_api=True, admin_ready_delay=READY_DELAY, admin_delete_delay=READY_DELAY
    ) as ws:
        tokens(ws, args.threads, args.operations)
        account = ServiceAccount(*ws.service_account())
        counter = Counter(ws)
        with AdminClient(
            ws.project_id, account, base_url=ws.admin_url, ca_file=ws.ca_file
        ) as client:
            client.list_workspaces()  # the token, fetched once, out of the rows
            name = "bench"
            action = counter.measure(
                "ensure workspace from nothing", lambda: ensure_workspace(client, name), 2,
                "(GET 404, POST)",
            )  # fmt: skip
            assert action == "create"
            counter.measure("ensure workspace, unchanged",
                            lambda: ensure_workspace(client, name), 1, "(GET)")  # fmt: skip
            counter.measure(
                f"deploy connection from nothing (READY {READY_DELAY:g} s, look {POLL:g} s)",
                lambda: deploy(client, name, "kafka1", KAFKA, SECRETS),
                None,
                f"~{3 + math.ceil(READY_DELAY / POLL)}: GET, POST, GETs",
            )
            counter.measure(
                "deploy unchanged (update_secrets=False)",
                lambda: deploy(client, name, "kafka1", KAFKA, SECRETS, update_secrets=False),
                1,
                "(GET)",
            )
            counter.measure(
                "deploy unchanged, no secrets",
                lambda: deploy(client, name, "kafka1", KAFKA),
                1,
                "(GET)",
            )
            counter.measure(
                "deploy unchanged (update_secrets=True)",
                lambda: deploy(client, name, "kafka1", KAFKA, SECRETS),
                2,
                "(GET, PATCH)",
            )

            def delete() -> None:
                client.delete_connection(name, "kafka1")
                waits.connection_gone(client, name, "kafka1", timeout=60, poll_interval=POLL)

            counter.measure(
                f"delete connection, wait gone ({READY_DELAY:g} s)",
                delete,
                None,
                f"~{2 + math.ceil(READY_DELAY / POLL)}: DELETE, GETs",
            )
            print(f"Making {args.connections} connections for the listing rows ...")
            for i in range(args.connections):
                client.create_connection(name, {"name": f"c{i:04d}", "type": "Sample"})
            fewest = math.ceil(args.connections / MAX_ITEMS_PER_PAGE)
            listed = counter.measure(
                f"list {args.connections} connections ({MAX_ITEMS_PER_PAGE}/page, the default)",
                lambda: client.list_connections(name),
                fewest,
                "pages (fewest)",
            )
            assert len(listed) == args.connections
        key = ApiKey(*ws.api_key())
        with AdminClient(ws.project_id, key, base_url=ws.admin_url, ca_file=ws.ca_file) as digest:
            counter.measure("API key: first call (Digest challenge)",
                            lambda: digest.get_workspace(name), 2, "(401, GET)")  # fmt: skip
            counter.measure("API key: next call", lambda: digest.get_workspace(name), 1)
        print()
        print("Admin API requests per operation (the emulator's counts; GETs while waiting")
        print(f"depend on the READY/delete delay {READY_DELAY:g} s and the look interval):")
        counter.print()


if __name__ == "__main__":
    main()
