"""Ops for workspaces and connections, for jobs that build or tear down a stack (each takes
an optional ``after`` input to run after another op). The ``asp_admin`` resource is an
:class:`~dagster_asp.admin.AspAdmin`. Each is the core's plan for its verb, the same as the
Airflow operators', with a bounded wait; errors no retry can fix (a FAILED connection, a
missing role, bad input) fail the op without retries, in the core's and Atlas's words.
A connection's ``definition`` in run config carries no secret (refused): ``secret_env``
names the environment variables that hold them."""

from typing import Any, Optional

import dagster as dg

from dagster_asp.admin.deploy import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_TIMEOUT,
    delete_connection,
    delete_workspace,
    deploy_connection,
    ensure_workspace,
)
from dagster_asp.admin.resource import AspAdmin
from dagster_asp.admin.specs import AspConnectionSpec, AspWorkspaceSpec
from dagster_asp.errors import dagster_errors

_AFTER = {"after": dg.In(dg.Nothing, description="Run after this op (no value).")}


class AspWaitConfig(dg.Config):
    """How long the op may take (seconds, requests and waits) and how often it looks."""

    timeout: float = DEFAULT_TIMEOUT
    poll_interval: float = DEFAULT_POLL_INTERVAL


class AspEnsureWorkspaceConfig(AspWaitConfig):
    """The workspace as it should be (``tier``/``max_tier_size`` empty: Atlas's defaults);
    with ``sample_connections`` the op waits until its sample connection is READY."""

    workspace_name: str
    cloud_provider: str = "AWS"
    region: str = "VIRGINIA_USA"
    tier: Optional[str] = None  # noqa: UP045
    max_tier_size: Optional[str] = None  # noqa: UP045
    sample_connections: bool = False


class AspDeleteWorkspaceConfig(AspWaitConfig):
    workspace_name: str


class AspDeployConnectionConfig(AspWaitConfig):
    """``definition``: the Admin API body without secrets; ``secret_env``: field path ->
    environment variable (``{"authentication.password": "KAFKA_PASSWORD"}``)."""

    workspace_name: str
    connection_name: str
    definition: dict[str, Any]
    secret_env: dict[str, str] = {}
    update_secrets: bool = True
    allow_replace: bool = False


class AspDeleteConnectionConfig(AspWaitConfig):
    """``wait``: wait until the connection is gone (Atlas deletes it after the 202)."""

    workspace_name: str
    connection_name: str
    wait: bool = True


@dg.op(ins=_AFTER)
def asp_ensure_workspace_op(
    context: dg.OpExecutionContext, config: AspEnsureWorkspaceConfig, asp_admin: AspAdmin
) -> dict[str, Any]:
    """Create the workspace, or PATCH what differs; returns ``{"workspace_name", "action",
    "changed", "hostnames"}``. Unchanged: one GET."""
    with dagster_errors(log=context.log):
        spec = AspWorkspaceSpec(
            config.workspace_name,
            cloud_provider=config.cloud_provider,
            region=config.region,
            tier=config.tier,
            max_tier_size=config.max_tier_size,
            sample_connections=config.sample_connections,
        )
        outcome = ensure_workspace(
            asp_admin,
            context.log,
            spec,
            timeout=config.timeout,
            poll_interval=config.poll_interval,
        )
    return {
        "workspace_name": spec.name,
        "action": outcome.action,
        "changed": list(outcome.changed),
        "hostnames": list(outcome.hostnames),
    }


@dg.op(ins=_AFTER)
def asp_delete_workspace_op(
    context: dg.OpExecutionContext, config: AspDeleteWorkspaceConfig, asp_admin: AspAdmin
) -> dict[str, Any]:
    """Delete the workspace and wait until it is gone; returns ``{"workspace_name",
    "deleted"}`` (False: there was none)."""
    with dagster_errors(log=context.log):
        deleted = delete_workspace(
            asp_admin,
            context.log,
            config.workspace_name,
            timeout=config.timeout,
            poll_interval=config.poll_interval,
        )
    return {"workspace_name": config.workspace_name, "deleted": deleted}


@dg.op(ins=_AFTER)
def asp_deploy_connection_op(
    context: dg.OpExecutionContext, config: AspDeployConnectionConfig, asp_admin: AspAdmin
) -> dict[str, Any]:
    """Create or update the connection to ``definition`` (+ the secrets) and wait until it
    is READY; returns ``{"connection_name", "action", "changed", "state"}``."""
    with dagster_errors(log=context.log):
        spec = AspConnectionSpec(
            config.connection_name,
            config.definition,
            secrets=config.secret_env,
            update_secrets=config.update_secrets,
            allow_replace=config.allow_replace,
        )
        outcome = deploy_connection(
            asp_admin,
            context.log,
            config.workspace_name,
            spec,
            timeout=config.timeout,
            poll_interval=config.poll_interval,
        )
    return {
        "connection_name": spec.name,
        "action": outcome.action,
        "changed": list(outcome.changed),
        "state": outcome.state,
    }


@dg.op(ins=_AFTER)
def asp_delete_connection_op(
    context: dg.OpExecutionContext, config: AspDeleteConnectionConfig, asp_admin: AspAdmin
) -> dict[str, Any]:
    """Delete the connection (and wait until it is gone); returns ``{"connection_name",
    "deleted"}`` (False: there was none)."""
    with dagster_errors(log=context.log):
        deleted = delete_connection(
            asp_admin,
            context.log,
            config.workspace_name,
            config.connection_name,
            wait=config.wait,
            timeout=config.timeout,
            poll_interval=config.poll_interval,
        )
    return {"connection_name": config.connection_name, "deleted": deleted}
