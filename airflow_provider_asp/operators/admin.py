"""Operators for workspaces and the connection registry (the Atlas Administration API).

Each runs the core's leg (:mod:`asp_core.admin.apply`: look, plan with
:mod:`asp_core.admin.deploy`, send), the same as Dagster's assets and ops, so running one
twice changes nothing the second time: a workspace or connection that already matches gets
no write, a missing one is no error to delete, one being deleted gets no second DELETE.
Those that wait (READY, gone) wait in the worker or, with ``deferrable=True``, in the
triggerer. Secrets never come from DAG code: a connection's definition carrying one (a
secret field, or a value Airflow masks, e.g. pulled in with ``{{ conn... }}``) is refused
before anything is sent; they come from another Airflow connection (``secrets_conn_id``, so
secret backends work) and travel only in the request body. Results are plain JSON without
secrets. Importing this module sends nothing and reads no connection.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_asp.operators.admin_base import (
    AspAdminBaseOperator,
    AspAdminWaitOperator,
    checked_name,
)
from asp_core import arguments
from asp_core.errors import AspInputError

if TYPE_CHECKING:
    from asp_core.admin.steps import Step

__all__ = [
    "AspCreateWorkspaceOperator",
    "AspDeleteConnectionOperator",
    "AspDeleteWorkspaceOperator",
    "AspDeployConnectionOperator",
    "AspDownloadLogsOperator",
]

LOG_KINDS = ("operational", "audit")
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

    def leg(self, workspace: str, previous: Step | None) -> Step:
        from asp_core.admin.apply.synchronous import workspace_leg

        return workspace_leg(
            self.hook.get_conn(),
            workspace,
            cloud_provider=self.cloud_provider,
            region=self.region,
            tier=self.tier,
            max_tier_size=self.max_tier_size,
            sample_connections=self.sample_connections,
            if_differs=self.if_differs,
        )

    def result(self, step: Step) -> dict[str, Any]:
        return workspace_result(step.workspace, step.action, step.changed, step.doc or {})


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

    def leg(self, workspace: str, previous: Step | None) -> Step:
        from asp_core.admin.apply.synchronous import delete_workspace_leg

        return delete_workspace_leg(self.hook.get_conn(), workspace)

    def result(self, step: Step) -> dict[str, Any]:
        return {"workspace_name": step.workspace, "deleted": step.deleted}


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

    def _body(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The definition and the secrets, checked before anything is sent: no secret field
        in the definition, and no value Airflow masks (a secret pulled in by a template,
        or one of the secrets read, pasted in)."""
        from asp_core.admin.deploy import refuse_secrets

        definition = arguments.document(self.definition, "definition")
        if definition is None:
            raise AspInputError("definition is required (the Admin API body, without secrets).")
        what = f"connection {self.connection_name!r}: the definition"
        refuse_secrets(definition, what)
        secrets = self._secrets(definition.get("type"))  # masked from here on
        refuse_masked(definition, what)
        return definition, secrets

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

    def leg(self, workspace: str, previous: Step | None) -> Step:
        from asp_core.admin.apply.synchronous import connection_leg

        name = checked_name(self.connection_name, "connection_name")
        definition, secrets = self._body()
        return connection_leg(
            self.hook.get_conn(),
            workspace,
            name,
            definition,
            secrets,
            update_secrets=self.update_secrets,
            allow_replace=self.allow_replace,
            previous=previous,
        )

    def result(self, step: Step) -> dict[str, Any]:
        return {
            "workspace_name": step.workspace,
            "connection_name": step.connection,
            "action": step.action,
            "changed": list(step.changed),
            "state": step.state,
        }


def refuse_masked(definition: Any, what: str) -> None:
    """:class:`AspInputError` naming the paths of ``definition`` whose values Airflow's
    secrets masker hides (a connection's password rendered in by ``{{ conn.x.password }}``,
    a secret read for this task pasted in): a secret in the definition is refused however
    it got there. Values are never named."""
    paths = _masked_paths(definition, "")
    if paths:
        raise AspInputError(
            f"{what} carries a secret at {', '.join(paths)} (a value Airflow masks): pass "
            "secrets with secrets_conn_id and secret_fields, never in the definition."
        )


def _masked_paths(value: Any, prefix: str) -> list[str]:
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in _masked_paths(v, f"{prefix}{k}.")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _masked_paths(v, f"{prefix}{i}.")]
    if isinstance(value, str) and value and _redact(value) != value:
        return [prefix.rstrip(".")]
    return []


def _redact(text: str) -> Any:
    try:
        from airflow.sdk._shared.secrets_masker import redact
    except ImportError:  # pragma: no cover - older Task SDKs
        from airflow.sdk.execution_time.secrets_masker import redact  # type: ignore[no-redef]
    return redact(text)


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

    def leg(self, workspace: str, previous: Step | None) -> Step:
        from asp_core.admin.apply.synchronous import delete_connection_leg

        name = checked_name(self.connection_name, "connection_name")
        return delete_connection_leg(self.hook.get_conn(), workspace, name)

    def result(self, step: Step) -> dict[str, Any]:
        return {
            "workspace_name": step.workspace,
            "connection_name": step.connection,
            "deleted": step.deleted,
        }


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
