"""A workspace connection (``asp``) that names an ``asp_admin`` connection and a workspace
instead of a host: its hostname is read from the Admin API (GET workspace, ``hostnames``)
when a task or trigger first needs the settings, never at DAG parse time. So a DAG can
create a workspace and then run processors in it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_asp.hooks.connection_form import (
    AdminReference,
    ResolvedWorkspace,
    admin_reference,
)
from asp_core.errors import AspConnectionConfigError

if TYPE_CHECKING:
    from airflow_provider_asp.hooks.admin_form import AdminSettings

__all__ = ["admin_reference", "aresolve_workspace", "resolve_workspace"]

log = logging.getLogger(__name__)

#: Attempts of the one read that resolves a workspace: a silent Admin API costs a wire task
#: about two of the ``asp_admin`` connection's request timeouts, not the client's deadline.
RESOLVE_ATTEMPTS = 2


def _resolved(
    source: str, reference: AdminReference, doc: Mapping[str, Any], settings: AdminSettings
) -> ResolvedWorkspace:
    from asp_core.admin.hostnames import wire_address

    host, port = wire_address(doc)
    log.info(
        "Connection %r: workspace %r is at %s (from asp_admin connection %r).",
        source,
        reference.workspace_name,
        host if port is None else f"{host}:{port}",
        reference.admin_conn_id,
    )
    return ResolvedWorkspace(host, port, settings.project_id)


def _missing(source: str, reference: AdminReference, settings: AdminSettings) -> Exception:
    return AspConnectionConfigError(
        source,
        f"workspace {reference.workspace_name!r} does not exist in project "
        f"{settings.project_id} (asp_admin connection {reference.admin_conn_id!r}).",
    )


def resolve_workspace(source: str, reference: AdminReference) -> ResolvedWorkspace:
    """The workspace's wire address, read through the sync Admin API client."""
    from airflow_provider_asp.hooks.admin import AspAdminHook
    from asp_core.admin import AdminNotFoundError

    with AspAdminHook(reference.admin_conn_id, attempts=RESOLVE_ATTEMPTS) as admin:
        try:
            doc = admin.get_conn().get_workspace(reference.workspace_name)
        except AdminNotFoundError:
            raise _missing(source, reference, admin.settings) from None
        return _resolved(source, reference, doc, admin.settings)


async def aresolve_workspace(source: str, reference: AdminReference) -> ResolvedWorkspace:
    """The workspace's wire address, read through the async Admin API client."""
    from airflow_provider_asp.hooks.admin import AspAdminHook
    from asp_core.admin import AdminNotFoundError

    async with AspAdminHook(reference.admin_conn_id, attempts=RESOLVE_ATTEMPTS) as admin:
        client = await admin.aget_conn()
        settings = await admin.asettings()
        try:
            doc = await client.get_workspace(reference.workspace_name)
        except AdminNotFoundError:
            raise _missing(source, reference, settings) from None
        return _resolved(source, reference, doc, settings)
