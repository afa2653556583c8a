"""The Admin API's steps inside a Dagster step: the core's drivers
(:mod:`asp_core.admin.apply`: look, plan, send, wait; the same legs and words as the Airflow
operators), each with a client of its own bounded by the step's ``timeout``, and what they
did as Dagster metadata. No decision is taken here. What is logged and returned names
actions and field paths, never a value of the body (it may hold secrets)."""

import dataclasses
from typing import Any, Optional

import dagster as dg

from asp_core.admin.apply import synchronous as apply
from asp_core.admin.steps import Step
from asp_core.admin.waits import synchronous as waits
from dagster_asp.admin.resource import AspAdmin
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

    @classmethod
    def of(cls, step: Step) -> "Outcome":
        hostnames = () if step.connection is not None else (step.doc or {}).get("hostnames")
        return cls(
            step.action,
            step.changed,
            step.reason,
            step.state,
            step.secrets_sent,
            tuple(str(h) for h in hostnames or ()),
        )

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


def deploy_connection(
    admin: AspAdmin,
    log: Any,
    workspace: str,
    spec: AspConnectionSpec,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
) -> Outcome:
    """Make connection ``spec.name`` of ``workspace`` match ``spec`` and wait until it is
    READY; unchanged (and READY) it is one GET."""
    with admin.bounded_client(timeout) as client:
        step = apply.deploy_connection(
            client,
            workspace,
            spec.name,
            spec.definition,
            spec.secret_values(),
            update_secrets=spec.update_secrets,
            allow_replace=spec.allow_replace,
            timeout=timeout,
            poll_interval=poll_interval,
            log=log,
        )
    return Outcome.of(step)


def ensure_workspace(
    admin: AspAdmin,
    log: Any,
    spec: AspWorkspaceSpec,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
) -> Outcome:
    """Create the workspace, or PATCH its region or stream config, or nothing (one GET);
    with ``sample_connections``, its sample connection READY."""
    with admin.bounded_client(timeout) as client:
        step = apply.ensure_workspace(
            client,
            spec.name,
            **spec.plan_kwargs(),
            sample_connections=spec.sample_connections,
            timeout=timeout,
            poll_interval=poll_interval,
            log=log,
        )
    return Outcome.of(step)


def delete_workspace(
    admin: AspAdmin,
    log: Any,
    name: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
) -> bool:
    """Delete the workspace and wait until it is gone; False when there was none (one GET)."""
    with admin.bounded_client(timeout) as client:
        step = apply.delete_workspace(
            client, name, timeout=timeout, poll_interval=poll_interval, log=log
        )
    return step.deleted


def delete_connection(
    admin: AspAdmin,
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
    with admin.bounded_client(timeout) as client:
        step = apply.delete_connection(
            client,
            workspace,
            name,
            wait=wait,
            timeout=timeout,
            poll_interval=poll_interval,
            log=log,
        )
    return step.deleted
