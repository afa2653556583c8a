"""A workspace and its connections as assets: materializing one deploys it.

``build_asp_workspace_asset`` makes the workspace match its :class:`AspWorkspaceSpec`
(create, PATCH, or nothing); ``build_asp_connection_assets`` gives one asset per
:class:`AspConnectionSpec` whose materialization creates or updates the connection and waits
until it is READY. The decisions are the core's (the same as the Airflow operators'). Each
materialization reports ``asp/action``, ``asp/changed`` (field paths), ``asp/reason`` and
``asp/state`` (connections), ``asp/secrets_sent`` (paths only) or ``asp/hostnames``
(workspaces); never a value of a body.
"""

from collections.abc import Sequence
from typing import Optional

import dagster as dg

from dagster_asp.admin.deploy import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_TIMEOUT,
    deploy_connection,
    ensure_workspace,
)
from dagster_asp.admin.resource import AspAdmin
from dagster_asp.admin.specs import AspConnectionSpec, AspWorkspaceSpec
from dagster_asp.errors import dagster_errors
from dagster_asp.translator import KIND


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)


def workspace_asset_key(workspace_name: str) -> dg.AssetKey:
    """``["asp_workspace", <workspace>]``: the default key of a workspace's asset."""
    return dg.AssetKey(["asp_workspace", workspace_name])


def connection_asset_key(workspace_name: str, connection_name: str) -> dg.AssetKey:
    """``["asp_connection", <workspace>, <connection>]``: the default key of a connection's
    asset."""
    return dg.AssetKey(["asp_connection", workspace_name, connection_name])


def build_asp_workspace_asset(
    workspace: AspWorkspaceSpec,
    *,
    resource_key: str = "asp_admin",
    key: Optional[dg.AssetKey] = None,  # noqa: UP045
    group_name: Optional[str] = None,  # noqa: UP045
    timeout: float = DEFAULT_TIMEOUT,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
) -> dg.AssetsDefinition:
    """The workspace's asset (default key :func:`workspace_asset_key`); materializing it
    creates the workspace or PATCHes what differs (with ``sample_connections``, then waits
    until its sample connection is READY). Unchanged: one GET, ``asp/action: none``.

    :param timeout: seconds a materialization may take, requests and the wait together.
    :param poll_interval: seconds between two looks while waiting.
    """

    spec = dg.AssetSpec(
        key=key or workspace_asset_key(workspace.name),
        group_name=group_name or f"asp_{_safe(workspace.name)}",
        kinds={KIND},
        description=f"The Atlas Stream Processing workspace {workspace.name!r} "
        f"({workspace.cloud_provider} {workspace.region}).",
        metadata={"asp/workspace": workspace.name},
    )

    @dg.multi_asset(
        name=f"asp_workspace__{_safe(workspace.name)}",
        specs=[spec],
        required_resource_keys={resource_key},
    )
    def _workspace(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        admin: AspAdmin = getattr(context.resources, resource_key)
        with dagster_errors(log=context.log):
            outcome = ensure_workspace(
                admin, context.log, workspace, timeout=timeout, poll_interval=poll_interval
            )
        return dg.MaterializeResult(metadata=outcome.metadata())

    return _workspace


def build_asp_connection_assets(
    workspace_name: str,
    connections: Sequence[AspConnectionSpec],
    *,
    resource_key: str = "asp_admin",
    deps: Sequence[dg.AssetKey] = (),
    group_name: Optional[str] = None,  # noqa: UP045
    timeout: float = DEFAULT_TIMEOUT,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
) -> list[dg.AssetsDefinition]:
    """One asset per connection of ``workspace_name`` (key :func:`connection_asset_key`).

    :param deps: upstream assets, e.g. the workspace's (``[ws_asset.key]``).
    :param timeout: seconds a materialization may take, requests and the READY wait together.
    :param poll_interval: seconds between two looks while waiting.
    """
    names = [spec.name for spec in connections]
    if len(set(names)) != len(names):
        raise dg.DagsterInvalidDefinitionError(f"Connection names repeat: {names}.")
    return [
        _connection_asset(
            workspace_name,
            spec,
            resource_key=resource_key,
            deps=deps,
            group_name=group_name or f"asp_{_safe(workspace_name)}",
            timeout=timeout,
            poll_interval=poll_interval,
        )
        for spec in connections
    ]


def _connection_asset(
    workspace_name: str,
    spec: AspConnectionSpec,
    *,
    resource_key: str,
    deps: Sequence[dg.AssetKey],
    group_name: str,
    timeout: float,
    poll_interval: float,
) -> dg.AssetsDefinition:
    kind = str(spec.definition.get("type", ""))

    asset_spec = dg.AssetSpec(
        key=connection_asset_key(workspace_name, spec.name),
        deps=list(deps),
        group_name=group_name,
        kinds={KIND},
        description=f"The {kind} connection {spec.name!r} of workspace {workspace_name!r}.",
        metadata={
            "asp/workspace": workspace_name,
            "asp/connection": spec.name,
            "asp/type": kind,
            "asp/secret_fields": dg.MetadataValue.json(sorted(spec.secrets)),
        },
    )

    @dg.multi_asset(
        name=f"asp_connection__{_safe(workspace_name)}__{_safe(spec.name)}",
        specs=[asset_spec],
        required_resource_keys={resource_key},
    )
    def _connection(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        admin: AspAdmin = getattr(context.resources, resource_key)
        with dagster_errors(log=context.log):
            outcome = deploy_connection(
                admin,
                context.log,
                workspace_name,
                spec,
                timeout=timeout,
                poll_interval=poll_interval,
            )
        return dg.MaterializeResult(metadata=outcome.metadata())

    return _connection
