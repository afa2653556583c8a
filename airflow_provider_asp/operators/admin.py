"""Operators for workspaces and the connection registry (the Atlas Administration API).

Each looks before it writes and decides with the core (:mod:`asp_core.admin.deploy`), so
running one twice changes nothing the second time: a workspace or connection that already
matches gets no write, a missing one is no error to delete. Those that wait (READY, gone)
wait in the worker or, with ``deferrable=True``, in the triggerer. Secrets never come from
DAG code: a connection's definition carrying one is refused before anything is sent;
they come from another Airflow connection (``secrets_conn_id``, so secret backends work)
and travel only in the request body. Results are plain JSON without secrets.
Importing this module sends nothing and reads no connection.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_asp.operators.admin_base import (
    AspAdminBaseOperator,
    AspAdminWaitOperator,
    checked_name,
    found,
)
from asp_core import arguments
from asp_core.errors import AspDefinitionConflictError, AspInputError

if TYPE_CHECKING:
    from airflow_provider_asp.triggers.admin import AdminLook

__all__ = [
    "AspCreateWorkspaceOperator",
    "AspDeleteConnectionOperator",
    "AspDeleteWorkspaceOperator",
    "AspDeployConnectionOperator",
    "AspDownloadLogsOperator",
]

SAMPLE_CONNECTION = "sample_stream_solar"
LOG_KINDS = ("operational", "audit")
IF_DIFFERS = ("update", "skip", "error")
#: Which field of the secrets connection fills which field of a connection of a type,
#: when ``secret_fields`` is not given: ``login``, ``password`` or ``extra.<key>``.
DEFAULT_SECRET_FIELDS: dict[str, dict[str, str]] = {
    "Kafka": {"authentication.username": "login", "authentication.password": "password"},
    "SchemaRegistry": {
        "schemaRegistryAuthentication.username": "login",
        "schemaRegistryAuthentication.password": "password",
    },
}


class AspCreateWorkspaceOperator(AspAdminWaitOperator):
    """Make a stream processing workspace exist as asked; returns ``{"workspace_name",
    "action", "changed", "hostnames", "region", "stream_config"}``.

    Absent: created (with ``sample_connections``, with ``sample_stream_solar``, waited
    for READY). Present and matching: nothing is sent. Present and different (region or
    tier): ``if_differs``.

    :param cloud_provider: ``AWS``, ``AZURE`` or ``GCP`` (templated).
    :param region: Atlas's region name, e.g. ``VIRGINIA_USA`` (templated).
    :param tier: the default processor tier, e.g. ``SP30`` (templated; None: Atlas's).
    :param max_tier_size: the largest tier a processor may use (templated).
    :param sample_connections: create it with the ``sample_stream_solar`` connection.
    :param if_differs: ``"update"`` (PATCH the region or stream config, the default),
        ``"skip"`` (keep it, with a warning) or ``"error"`` (fail without retries).
    """

    template_fields: Sequence[str] = (
        *AspAdminWaitOperator.template_fields,
        "cloud_provider",
        "region",
        "tier",
        "max_tier_size",
    )

    def __init__(
        self,
        *,
        cloud_provider: str = "AWS",
        region: str = "VIRGINIA_USA",
        tier: str | None = None,
        max_tier_size: str | None = None,
        sample_connections: bool = False,
        if_differs: str = "update",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cloud_provider = cloud_provider
        self.region = region
        self.tier = tier
        self.max_tier_size = max_tier_size
        self.sample_connections = sample_connections
        self.if_differs = if_differs

    def run(self, workspace: str) -> Any:
        from airflow_provider_asp.triggers.admin import AdminWait
        from asp_core.admin.deploy import plan_workspace

        arguments.one_of(self.if_differs, "if_differs", IF_DIFFERS)
        client = self.hook.get_conn()
        current = found(lambda: client.get_workspace(workspace))
        plan = plan_workspace(
            current,
            workspace,
            cloud_provider=self.cloud_provider,
            region=self.region,
            tier=self.tier,
            max_tier_size=self.max_tier_size,
        )
        action, doc = plan.action, current
        if plan.action == "create":
            self.log.info("Creating workspace %r.", workspace)
            doc = client.create_workspace(
                workspace,
                cloud_provider=self.cloud_provider,
                region=self.region,
                tier=self.tier,
                max_tier_size=self.max_tier_size,
                sample_connections=self.sample_connections,
            )
        elif plan.action == "update":
            differ = f"Workspace {workspace!r} exists with a different {', '.join(plan.changed)}"
            if self.if_differs == "error":
                raise AspDefinitionConflictError(f"{differ} (if_differs='error').")
            if self.if_differs == "skip":
                self.log.warning("%s: keeping it (if_differs='skip').", differ)
                action = "none"
            else:
                self.log.info("%s: updating it.", differ)
                doc = client.update_workspace(workspace, plan.body)
        else:
            self.log.info("Workspace %r exists as asked: nothing to do.", workspace)
        result = workspace_result(workspace, action, plan.changed, doc or {})
        if plan.action == "create" and self.sample_connections:
            wait = AdminWait("ready", workspace, SAMPLE_CONNECTION)
            return self.await_then(wait, {"result": result})
        return result


def workspace_result(
    name: str, action: str, changed: Sequence[str], doc: Mapping[str, Any]
) -> dict[str, Any]:
    """What a workspace operator returns (the document's public fields)."""
    return {
        "workspace_name": name,
        "action": action,
        "changed": list(changed),
        "hostnames": list(doc.get("hostnames") or []),
        "region": doc.get("dataProcessRegion"),
        "stream_config": doc.get("streamConfig"),
    }


class AspDeleteWorkspaceOperator(AspAdminWaitOperator):
    """Delete a workspace and wait until it is gone; a missing workspace is success
    (nothing is sent but one look). Returns ``{"workspace_name", "deleted"}``.

    Fit for ``trigger_rule="all_done"`` teardown tasks; drop its processors first (Atlas
    asks for them to be stopped).
    """

    def run(self, workspace: str) -> Any:
        from airflow_provider_asp.triggers.admin import AdminWait

        client = self.hook.get_conn()
        if found(lambda: client.get_workspace(workspace)) is None:
            self.log.info("Workspace %r does not exist: nothing to delete.", workspace)
            return {"workspace_name": workspace, "deleted": False}
        self.log.info("Deleting workspace %r.", workspace)
        client.delete_workspace(workspace)
        result = {"workspace_name": workspace, "deleted": True}
        return self.await_then(AdminWait("gone", workspace), {"result": result})


class AspConnectionOperator(AspAdminWaitOperator):
    """An operator on one connection of a workspace's registry.

    :param connection_name: the connection (templated).
    """

    template_fields: Sequence[str] = (*AspAdminWaitOperator.template_fields, "connection_name")

    def __init__(self, *, connection_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.connection_name = connection_name


class AspDeployConnectionOperator(AspConnectionOperator):
    """Make a connection of the registry have ``definition`` and be READY; returns
    ``{"workspace_name", "connection_name", "action", "changed", "state"}``.

    Absent: created. Different: updated (PATCH). Unchanged: nothing is sent but one look
    (with secrets, they are sent again unless ``update_secrets=False``: Atlas never shows
    them, so no look can tell them unchanged). A change Atlas refuses in place (``type``,
    ``networking``) needs ``allow_replace=True``: the connection is deleted, awaited gone
    and created again. Then it waits until READY (FAILED fails the task at once).

    :param definition: the Admin API body without secrets, e.g. ``{"type": "Https",
        "url": "https://example.com/hook"}`` (templated, a dict or JSON). ``name`` may be
        left out. A secret field in it (``password``, ``clientSecret``, ...) fails the task
        before anything is sent.
    :param secrets_conn_id: an Airflow connection holding the secrets (templated; any
        secret backend works). Kafka and SchemaRegistry take its login and password as
        the authentication's username and password.
    :param secret_fields: which field of the secrets connection fills which field of the
        body: ``{"authentication.password": "password", "headers.Authorization":
        "extra.token"}`` (``login``, ``password`` or ``extra.<key>``).
    :param update_secrets: send the secrets on every run (default), or only with another
        change.
    :param allow_replace: delete and create the connection when Atlas refuses the change
        in place (processors using it fail to resolve it meanwhile).
    """

    template_fields: Sequence[str] = (
        *AspConnectionOperator.template_fields,
        "definition",
        "secrets_conn_id",
    )
    template_fields_renderers = {"definition": "json"}

    def __init__(
        self,
        *,
        definition: Mapping[str, Any] | str,
        secrets_conn_id: str | None = None,
        secret_fields: Mapping[str, str] | None = None,
        update_secrets: bool = True,
        allow_replace: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.definition = definition
        self.secrets_conn_id = secrets_conn_id
        self.secret_fields = secret_fields
        self.update_secrets = update_secrets
        self.allow_replace = allow_replace

    def _definition(self) -> dict[str, Any]:
        from asp_core.admin.deploy import refuse_secrets

        definition = arguments.document(self.definition, "definition")
        if definition is None:
            raise AspInputError("definition is required (the Admin API body, without secrets).")
        refuse_secrets(definition, f"connection {self.connection_name!r}: the definition")
        return definition

    def _secrets(self, kind: Any) -> dict[str, Any]:
        """The secrets to merge into the body, read from ``secrets_conn_id`` (masked)."""
        if self.secrets_conn_id is None:
            if self.secret_fields:
                raise AspInputError("secret_fields needs secrets_conn_id.")
            return {}
        fields = self.secret_fields or DEFAULT_SECRET_FIELDS.get(str(kind))
        if not fields:
            raise AspInputError(
                f"Give secret_fields: which field of connection {self.secrets_conn_id!r} "
                f"fills which field of a {kind} connection (e.g. "
                "{'headers.Authorization': 'password'})."
            )
        return secrets_from_connection(self.secrets_conn_id, fields)

    def run(self, workspace: str) -> Any:
        from airflow_provider_asp.triggers.admin import AdminWait
        from asp_core.admin.deploy import plan_connection

        name = checked_name(self.connection_name, "connection_name")
        definition = self._definition()
        secrets = self._secrets(definition.get("type"))
        client = self.hook.get_conn()
        current = found(lambda: client.get_connection(workspace, name))
        plan = plan_connection(
            current, name, definition, secrets, update_secrets=self.update_secrets
        )
        self.log.info("Connection %r: %s (%s).", name, plan.action, plan.reason)
        result = {
            "workspace_name": workspace,
            "connection_name": name,
            "action": plan.action,
            "changed": list(plan.changed),
            "state": None,
        }
        gone = AdminWait("gone", workspace, name)
        if current is not None and current.get("state") == "DELETING":
            self.log.info("Connection %r is being deleted: creating it once gone.", name)
            return self.await_then(gone, {"then": "create"}, always=True)
        if plan.action == "replace":
            if not self.allow_replace:
                raise AspDefinitionConflictError(
                    f"Connection {name!r} of workspace {workspace!r}: {plan.reason}. Pass "
                    "allow_replace=True to delete and create it again."
                )
            client.delete_connection(workspace, name)
            resume = {"then": "create", "action": "replace", "changed": list(plan.changed)}
            return self.await_then(gone, resume, always=True)
        doc: Mapping[str, Any] | None
        if plan.action == "create":
            doc = client.create_connection(workspace, plan.body)
        elif plan.action == "update":
            doc = client.update_connection(workspace, name, plan.body)
        else:
            doc = current
        result["state"] = (doc or {}).get("state")
        return self.await_then(AdminWait("ready", workspace, name), {"result": result}, first=doc)

    def finish(self, resume: Mapping[str, Any], look: AdminLook | None) -> Any:
        if resume.get("then") == "create":  # the old connection is gone: deploy anew
            result = self.run(checked_name(self.workspace_name, "workspace_name"))
            if "action" in resume:
                result = {**result, "action": resume["action"], "changed": resume["changed"]}
            return result
        return super().finish(resume, look)


def secrets_from_connection(conn_id: str, fields: Mapping[str, str]) -> dict[str, Any]:
    """``{dotted path: value}`` from Airflow connection ``conn_id``'s ``login``,
    ``password`` or ``extra.<key>``; every value but a login is masked in the logs."""
    from airflow.sdk import BaseHook
    from airflow.sdk.log import mask_secret

    conn = BaseHook.get_connection(conn_id)
    extra = conn.extra_dejson
    secrets: dict[str, Any] = {}
    for path, source in fields.items():
        if source == "login":
            value: Any = conn.login
        elif source == "password":
            value = conn.password
        elif source.startswith("extra.") and len(source) > len("extra."):
            value = extra.get(source.removeprefix("extra."))
        else:
            raise AspInputError(
                f"secret_fields[{path!r}] must be login, password or extra.<key>, not {source!r}."
            )
        if value is None or value == "":
            raise AspInputError(f"Connection {conn_id!r} has no {source} (for {path}).")
        if source != "login":
            mask_secret(value)
        secrets[path] = value
    return secrets


class AspDeleteConnectionOperator(AspConnectionOperator):
    """Delete a connection of a workspace's registry and wait until it is gone; a missing
    one is success (one look, nothing else). Returns ``{"workspace_name",
    "connection_name", "deleted"}``. Fit for teardown tasks."""

    def run(self, workspace: str) -> Any:
        from airflow_provider_asp.triggers.admin import AdminWait

        name = checked_name(self.connection_name, "connection_name")
        client = self.hook.get_conn()
        current = found(lambda: client.get_connection(workspace, name))
        result = {"workspace_name": workspace, "connection_name": name, "deleted": False}
        if current is None:
            self.log.info("Connection %r does not exist: nothing to delete.", name)
            return result
        if current.get("state") == "DELETING":
            self.log.info("Connection %r is already being deleted.", name)
        else:
            self.log.info("Deleting connection %r of workspace %r.", name, workspace)
            client.delete_connection(workspace, name)
        result["deleted"] = True
        return self.await_then(AdminWait("gone", workspace, name), {"result": result})


class AspDownloadLogsOperator(AspAdminBaseOperator):
    """Download a workspace's operational or audit logs, as Atlas sends them (gzip), to a
    file; returns ``{"workspace_name", "kind", "path", "bytes"}``.

    A retry writes the file anew. The download is bounded by ``max_bytes`` and ``timeout``.

    :param path: the file to write, e.g. ``/tmp/{{ ds }}-asp.log.gz`` (templated).
    :param kind: ``"operational"`` or ``"audit"`` (templated).
    :param start_time: the first instant (templated): an aware datetime, epoch seconds, or
        ISO-8601 with an offset such as the rendered ``"{{ data_interval_start }}"``.
    :param end_time: the last instant (templated), in the same forms.
    :param processor_name: only this processor's logs (templated; operational logs).
    :param max_bytes: the largest download accepted (None: the core's limit).
    """

    template_fields: Sequence[str] = (
        *AspAdminBaseOperator.template_fields,
        "path",
        "kind",
        "start_time",
        "end_time",
        "processor_name",
    )

    def __init__(
        self,
        *,
        path: str,
        kind: str = "operational",
        start_time: Any = None,
        end_time: Any = None,
        processor_name: str | None = None,
        max_bytes: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.kind = kind
        self.start_time = start_time
        self.end_time = end_time
        self.processor_name = processor_name
        self.max_bytes = max_bytes

    def run(self, workspace: str) -> Any:
        path = checked_name(self.path, "path")
        kind = arguments.one_of(self.kind, "kind", LOG_KINDS)
        start = arguments.instant(self.start_time, "start_time")
        end = arguments.instant(self.end_time, "end_time")
        if start is not None and end is not None and end < start:
            raise AspInputError("end_time must not be before start_time.")
        limit = arguments.integer(self.max_bytes, "max_bytes", allow_none=True)
        options: dict[str, Any] = {"start": start, "end": end, "processor": self.processor_name}
        if limit is not None:
            options["max_bytes"] = limit
        self.log.info("Downloading the %s logs of workspace %r to %s.", kind, workspace, path)
        written = self.hook.get_conn().save_logs(workspace, path, kind, **options)
        self.log.info("Wrote %d bytes (gzip) to %s.", written, path)
        return {"workspace_name": workspace, "kind": kind, "path": path, "bytes": written}
