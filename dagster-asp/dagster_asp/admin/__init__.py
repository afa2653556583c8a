"""The control plane through the Atlas Administration API: the ``AspAdmin`` resource, a
workspace and its connections as assets, and ops that create, deploy and delete them (the
core's client, plans and waits)."""

from dagster_asp.admin.assets import (
    build_asp_connection_assets,
    build_asp_workspace_asset,
    connection_asset_key,
    workspace_asset_key,
)
from dagster_asp.admin.ops import (
    asp_delete_connection_op,
    asp_delete_workspace_op,
    asp_deploy_connection_op,
    asp_ensure_workspace_op,
)
from dagster_asp.admin.resource import AspAdmin
from dagster_asp.admin.specs import AspConnectionSpec, AspWorkspaceSpec

__all__ = [
    "AspAdmin",
    "AspConnectionSpec",
    "AspWorkspaceSpec",
    "asp_delete_connection_op",
    "asp_delete_workspace_op",
    "asp_deploy_connection_op",
    "asp_ensure_workspace_op",
    "build_asp_connection_assets",
    "build_asp_workspace_asset",
    "connection_asset_key",
    "workspace_asset_key",
]
