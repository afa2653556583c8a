"""The Admin API's steps inside a Dagster step: look, ask the core's plan
(:mod:`asp_core.admin.deploy`), send what it says, wait with the core's bounded waits
(:mod:`asp_core.admin.waits`). No decision is taken here. What is logged and returned names
actions and field paths, never a value of the body (it may hold secrets)."""

import dataclasses
import time
from typing import Any, Optional

import dagster as dg

from asp_core.admin import AdminClient, AdminNotFoundError
from asp_core.admin.deploy import judge_connection, plan_connection, plan_workspace
from asp_core.admin.waits import synchronous as waits
from asp_core.errors import AspDefinitionConflictError
from dagster_asp.admin.specs import AspConnectionSpec, AspWorkspaceSpec

#: Seconds a deploy or a delete may take, requests and waits together (the core's bound for
#: READY: private networking stays PENDING for 20-30 minutes).
DEFAULT_TIMEOUT = waits.READY_TIMEOUT
#: Seconds between two looks while waiting (the core's).
DEFAULT_POLL_INTERVAL = waits.POLL_INTERVAL


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a deploy did: ``action`` (create, update, replace, none), the ``changed`` field
    paths, the plan's ``reason``, the resulting ``state``, the paths of the secrets sent."""

    action: str
    changed: tuple[str, ...] = ()
    reason: str = ""
    state: Optional[str] = None  # noqa: UP045
    secrets_sent: tuple[str, ...] = ()
    hostnames: tuple[str, ...] = ()

    def metadata(self) -> dict[str, Any]:
        """Dagster metadata: JSON names and states, never a value of the body."""
        metadata: dict[str, Any] = {
            "asp/action": self.action,
            "asp/changed": dg.MetadataValue.json(list(self.changed)),
            "asp/reason": self.reason,
        }
        if self.state is not None:
            metadata["asp/state"] = self.state
        if self.secrets_sent:
            metadata["asp/secrets_sent"] = dg.MetadataValue.json(list(self.secrets_sent))
        if self.hostnames:
            metadata["asp/hostnames"] = dg.MetadataValue.json(list(self.hostnames))
        return metadata


class _Clock:
    def __init__(self, timeout: float) -> None:
        self.deadline = time.monotonic() + timeout

    def left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())


def _get_connection(client: AdminClient, workspace: str, name: str) -> Optional[dict[str, Any]]:  # noqa: UP045
    try:
        return client.get_connection(workspace, name)
    except AdminNotFoundError:
        return None


def deploy_connection(
    client: AdminClient,
    log: Any,
    workspace: str,
    spec: AspConnectionSpec,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
) -> Outcome:
    """Make connection ``spec.name`` of ``workspace`` match ``spec`` and wait until it is
    READY; unchanged (and READY) it is one GET."""
    clock = _Clock(timeout)
    name = spec.name
    current = _get_connection(client, workspace, name)
    plan = plan_connection(
        current, name, spec.definition, spec.secret_values(), update_secrets=spec.update_secrets
    )
    log.info(f"Connection {name!r} of workspace {workspace!r}: {plan.action} ({plan.reason}).")
    doc = current
    if plan.action == "replace":
        if not spec.allow_replace:
            raise AspDefinitionConflictError(
                f"Connection {name!r} of workspace {workspace!r}: {plan.reason}; deleting and "
                "creating it stops the processors that use it, so it is not done unless "
                "allow_replace=True."
            )
        client.delete_connection(workspace, name)
        waits.connection_gone(
            client, workspace, name, timeout=clock.left(), poll_interval=poll_interval
        )
        doc = client.create_connection(workspace, plan.body)
    elif plan.action == "create":
        doc = client.create_connection(workspace, plan.body)
    elif plan.action == "update":
        doc = client.update_connection(workspace, name, plan.body)
    verdict = judge_connection(doc)
    if not verdict.ready:  # PENDING: wait; FAILED or gone: the wait's one look raises
        log.info(f"Connection {name!r}: {verdict.state}; waiting until READY.")
        doc = waits.connection_ready(
            client, workspace, name, timeout=clock.left(), poll_interval=poll_interval
        )
    sent = tuple(spec.secrets) if plan.writes else ()
    return Outcome(plan.action, plan.changed, plan.reason, judge_connection(doc).state, sent)


def ensure_workspace(client: AdminClient, log: Any, spec: AspWorkspaceSpec) -> Outcome:
    """Create the workspace, or PATCH its region or stream config, or nothing (one GET)."""
    try:
        current: Optional[dict[str, Any]] = client.get_workspace(spec.name)  # noqa: UP045
    except AdminNotFoundError:
        current = None
    plan = plan_workspace(current, spec.name, **spec.plan_kwargs())
    log.info(f"Workspace {spec.name!r}: {plan.action} ({plan.reason}).")
    doc = current or {}
    if plan.action == "create":
        doc = client.create_workspace(
            spec.name, **spec.plan_kwargs(), sample_connections=spec.sample_connections
        )
    elif plan.action == "update":
        doc = client.update_workspace(spec.name, plan.body)
    hostnames = tuple(str(h) for h in doc.get("hostnames") or ())
    return Outcome(plan.action, plan.changed, plan.reason, hostnames=hostnames)


def delete_workspace(
    client: AdminClient,
    log: Any,
    name: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
) -> bool:
    """Delete the workspace and wait until it is gone; False when there was none (one GET)."""
    clock = _Clock(timeout)
    try:
        client.get_workspace(name)
    except AdminNotFoundError:
        log.info(f"Workspace {name!r}: absent; nothing to delete.")
        return False
    log.info(f"Workspace {name!r}: deleting; waiting until it is gone.")
    client.delete_workspace(name)
    waits.workspace_gone(client, name, timeout=clock.left(), poll_interval=poll_interval)
    return True


def delete_connection(
    client: AdminClient,
    log: Any,
    workspace: str,
    name: str,
    *,
    wait: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
) -> bool:
    """Delete the connection (and, with ``wait``, wait until it is gone); False when there
    was none (one GET)."""
    clock = _Clock(timeout)
    if _get_connection(client, workspace, name) is None:
        log.info(f"Connection {name!r} of workspace {workspace!r}: absent; nothing to delete.")
        return False
    log.info(f"Connection {name!r} of workspace {workspace!r}: deleting.")
    client.delete_connection(workspace, name)
    if wait:
        waits.connection_gone(
            client, workspace, name, timeout=clock.left(), poll_interval=poll_interval
        )
    return True
