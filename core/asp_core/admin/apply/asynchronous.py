"""Deploys and deletes through the Admin API, decided once for every orchestrator.

A *leg* looks (one GET), asks the core's plan (:mod:`asp_core.admin.deploy`), sends what the
plan says and returns a :class:`~asp_core.admin.steps.Step` naming what to wait for next; it
never waits. An orchestrator that waits elsewhere (Airflow's triggerer) runs the legs and
waits its own way; after an awaited "gone" with ``step.again`` it runs the leg again with
``previous=step`` (a fresh look, then the create). The drivers (:func:`deploy_connection`,
:func:`ensure_workspace`, :func:`delete_connection`, :func:`delete_workspace`) run the legs
and the core's bounded waits (:mod:`asp_core.admin.waits`) within one ``timeout`` for code
that waits where it runs (Dagster, Airflow's worker, scripts).

Written once for asyncio; ``tools/synchro.py`` generates the blocking twin. Nothing here
logs a body: a body may hold secrets.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from asp_core.admin.deploy import plan_connection, plan_workspace
from asp_core.admin.errors import AdminNotFoundError, is_gone
from asp_core.admin.steps import (
    SAMPLE_CONNECTION,
    Step,
    check_if_differs,
    replace_refused,
    workspace_differs,
)
from asp_core.admin.waits import asynchronous as waits
from asp_core.errors import AspDefinitionConflictError

if TYPE_CHECKING:
    from asp_core.admin import AsyncAdminClient


class Log(Protocol):
    """Where the drivers say what they do (a logger, Dagster's ``context.log``)."""

    def info(self, msg: str) -> Any: ...

    def warning(self, msg: str) -> Any: ...


# -- legs ---------------------------------------------------------------------------------------
async def connection_leg(
    client: AsyncAdminClient,
    workspace: str,
    name: str,
    definition: Mapping[str, Any],
    secrets: Mapping[str, Any] | None = None,
    *,
    update_secrets: bool = True,
    allow_replace: bool = False,
    previous: Step | None = None,
) -> Step:
    """Make connection ``name`` match ``definition`` (+ ``secrets``): create, PATCH, delete
    for a replace (``allow_replace``; else :class:`AspDefinitionConflictError`), or
    nothing; then wait until READY. One being deleted is awaited gone, then created."""
    current = await _connection(client, workspace, name)
    if current is not None and current.get("state") == "DELETING":
        step = Step(
            workspace,
            name,
            "create",
            "being deleted: created again once gone",
            doc=current,
            awaits="gone",
            awaited=name,
            again=True,
        )
        return step.after(previous)
    plan = plan_connection(current, name, definition, secrets, update_secrets=update_secrets)
    sent = tuple(secrets or ()) if plan.writes else ()
    if plan.action == "replace":
        if not allow_replace:
            raise replace_refused(workspace, name, plan)
        await client.delete_connection(workspace, name)
        reason = f"{plan.reason}: deleted, created again once gone"
        return Step(
            workspace,
            name,
            "replace",
            reason,
            plan.changed,
            awaits="gone",
            awaited=name,
            again=True,
        )
    doc: Mapping[str, Any] | None = current
    if plan.action == "create":
        doc = await client.create_connection(workspace, plan.body)
    elif plan.action == "update":
        doc = await client.update_connection(workspace, name, plan.body)
    step = Step(
        workspace,
        name,
        plan.action,
        plan.reason,
        plan.changed,
        doc=doc,
        awaits="ready",
        awaited=name,
        first=doc,
        secrets_sent=sent,
    )
    return step.after(previous)


async def workspace_leg(
    client: AsyncAdminClient,
    name: str,
    *,
    cloud_provider: str = "AWS",
    region: str = "VIRGINIA_USA",
    tier: str | None = None,
    max_tier_size: str | None = None,
    sample_connections: bool = False,
    if_differs: str = "update",
) -> Step:
    """Make workspace ``name`` exist as asked: create it, PATCH its region or stream config
    (``if_differs``: ``update``; ``skip`` keeps it with a warning; ``error`` raises
    :class:`AspDefinitionConflictError`), or nothing. With ``sample_connections`` its
    ``sample_stream_solar`` is awaited READY (read in the same look: one GET)."""
    check_if_differs(if_differs)
    shape: dict[str, Any] = {
        "cloud_provider": cloud_provider,
        "region": region,
        "tier": tier,
        "max_tier_size": max_tier_size,
    }
    try:
        current: dict[str, Any] | None = await client.get_workspace(
            name, include_connections=sample_connections
        )
    except AdminNotFoundError as exc:
        if not is_gone(exc):
            raise
        current = None
    plan = plan_workspace(current, name, **shape)
    action, doc, warnings = plan.action, current, []
    if plan.action == "create":
        doc = await client.create_workspace(name, **shape, sample_connections=sample_connections)
    elif plan.action == "update":
        differs = workspace_differs(name, plan.changed, if_differs)
        if if_differs == "error":
            raise AspDefinitionConflictError(f"{differs}.")
        if if_differs == "skip":
            action = "none"
            warnings.append(f"{differs}: kept as it is.")
        else:
            doc = await client.update_workspace(name, plan.body)
    awaits: dict[str, Any] = {}
    if sample_connections and plan.action == "create":
        awaits = {"awaits": "ready", "awaited": SAMPLE_CONNECTION}
    elif sample_connections:
        sample = _listed(current, SAMPLE_CONNECTION)
        if sample is None:
            warnings.append(
                f"Workspace {name!r} has no {SAMPLE_CONNECTION} (made without sample "
                "connections): none is added."
            )
        else:
            awaits = {"awaits": "ready", "awaited": SAMPLE_CONNECTION, "first": sample}
    return Step(
        name,
        None,
        action,
        plan.reason,
        plan.changed,
        doc=doc,
        warning=" ".join(warnings) or None,
        **awaits,
    )


async def delete_connection_leg(client: AsyncAdminClient, workspace: str, name: str) -> Step:
    """Ask for the connection's deletion (none when absent; no second DELETE when it is
    being deleted already) and await it gone."""
    current = await _connection(client, workspace, name)
    if current is None:
        return Step(workspace, name, "none", "absent: nothing to delete")
    if current.get("state") == "DELETING":
        return Step(
            workspace,
            name,
            "delete",
            "being deleted already",
            doc=current,
            awaits="gone",
            awaited=name,
        )
    await client.delete_connection(workspace, name)
    return Step(workspace, name, "delete", "deleting", doc=current, awaits="gone", awaited=name)


async def delete_workspace_leg(client: AsyncAdminClient, name: str) -> Step:
    """Ask for the workspace's deletion (none when absent) and await it gone."""
    try:
        current = await client.get_workspace(name)
    except AdminNotFoundError as exc:
        if not is_gone(exc):
            raise
        return Step(name, None, "none", "absent: nothing to delete")
    await client.delete_workspace(name)
    return Step(name, None, "delete", "deleting", doc=current, awaits="gone")


# -- drivers: legs and the core's waits within one timeout ---------------------------------------
async def deploy_connection(
    client: AsyncAdminClient,
    workspace: str,
    name: str,
    definition: Mapping[str, Any],
    secrets: Mapping[str, Any] | None = None,
    *,
    update_secrets: bool = True,
    allow_replace: bool = False,
    timeout: float = waits.READY_TIMEOUT,
    poll_interval: float = waits.POLL_INTERVAL,
    log: Log | None = None,
) -> Step:
    """:func:`connection_leg` until the connection is READY, within ``timeout`` seconds
    (calls and waits; a silent server costs about one request's timeout more)."""
    deadline = time.monotonic() + timeout
    step: Step | None = None
    while step is None or step.again:
        if step is not None:
            await awaited(client, step, deadline, poll_interval)
        step = await connection_leg(
            client,
            workspace,
            name,
            definition,
            secrets,
            update_secrets=update_secrets,
            allow_replace=allow_replace,
            previous=step,
        )
        _tell(log, step)
    return await awaited(client, step, deadline, poll_interval, log)


async def ensure_workspace(
    client: AsyncAdminClient,
    name: str,
    *,
    cloud_provider: str = "AWS",
    region: str = "VIRGINIA_USA",
    tier: str | None = None,
    max_tier_size: str | None = None,
    sample_connections: bool = False,
    if_differs: str = "update",
    timeout: float = waits.READY_TIMEOUT,
    poll_interval: float = waits.POLL_INTERVAL,
    log: Log | None = None,
) -> Step:
    """:func:`workspace_leg`, then its sample connection READY, within ``timeout``."""
    deadline = time.monotonic() + timeout
    step = await workspace_leg(
        client,
        name,
        cloud_provider=cloud_provider,
        region=region,
        tier=tier,
        max_tier_size=max_tier_size,
        sample_connections=sample_connections,
        if_differs=if_differs,
    )
    _tell(log, step)
    return await awaited(client, step, deadline, poll_interval, log)


async def delete_connection(
    client: AsyncAdminClient,
    workspace: str,
    name: str,
    *,
    wait: bool = True,
    timeout: float = waits.GONE_TIMEOUT,
    poll_interval: float = waits.POLL_INTERVAL,
    log: Log | None = None,
) -> Step:
    """:func:`delete_connection_leg`, then (``wait``) the connection gone, within
    ``timeout``."""
    deadline = time.monotonic() + timeout
    step = await delete_connection_leg(client, workspace, name)
    _tell(log, step)
    if not wait:
        return step
    return await awaited(client, step, deadline, poll_interval, log)


async def delete_workspace(
    client: AsyncAdminClient,
    name: str,
    *,
    timeout: float = waits.GONE_TIMEOUT,
    poll_interval: float = waits.POLL_INTERVAL,
    log: Log | None = None,
) -> Step:
    """:func:`delete_workspace_leg`, then the workspace gone, within ``timeout``."""
    deadline = time.monotonic() + timeout
    step = await delete_workspace_leg(client, name)
    _tell(log, step)
    return await awaited(client, step, deadline, poll_interval, log)


async def awaited(
    client: AsyncAdminClient,
    step: Step,
    deadline: float,
    poll_interval: float,
    log: Log | None = None,
) -> Step:
    """``step`` once what it awaits is so (the core's waits, until ``deadline``, a
    ``time.monotonic()`` instant): a READY already read costs nothing, a FAILED one raises
    at once; past the deadline, :class:`AdminWaitTimeoutError`."""
    if step.awaits is None:
        return step
    if step.awaits == "ready" and step.judge_first() == "ready":
        return step.seen(step.first)
    if step.awaits == "ready" and step.judge_first() == "failed":
        raise step.failure()
    left = max(deadline - time.monotonic(), 0.0)
    if log is not None:
        log.info(f"Waiting up to {left:.0f} s for {step.awaited_what} to be {_word(step)}.")
    doc = await waits.wait_for(
        client,
        step.workspace,
        step.awaits,
        step.awaited,
        timeout=left,
        poll_interval=poll_interval,
    )
    return step.seen(doc)


def _word(step: Step) -> str:
    return "READY" if step.awaits == "ready" else "gone"


def _tell(log: Log | None, step: Step) -> None:
    if log is None:
        return
    log.info(step.note)
    if step.warning:
        log.warning(step.warning)


def _listed(workspace: Mapping[str, Any] | None, name: str) -> Mapping[str, Any] | None:
    """Connection ``name`` of a workspace document read with its connections."""
    for doc in (workspace or {}).get("connections") or ():
        if isinstance(doc, Mapping) and doc.get("name") == name:
            return doc
    return None


async def _connection(client: AsyncAdminClient, workspace: str, name: str) -> dict[str, Any] | None:
    try:
        return await client.get_connection(workspace, name)
    except AdminNotFoundError as exc:
        if not is_gone(exc):
            raise
        return None


__all__ = [
    "Log",
    "awaited",
    "connection_leg",
    "delete_connection",
    "delete_connection_leg",
    "delete_workspace",
    "delete_workspace_leg",
    "deploy_connection",
    "ensure_workspace",
    "workspace_leg",
]
