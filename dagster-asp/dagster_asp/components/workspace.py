"""The component's ``workspace:`` block: the resource's fields, templated, checked by the core.

Values may use Dagster's templating (``{{ env.ASP_HOST }}``), resolved at load. A password
written as exactly ``{{ env.NAME }}`` (or ``{{ env('NAME') }}``) becomes ``dg.EnvVar("NAME")``:
read when a run or tick needs it, so the definitions (and the UI's resource page) name the
variable, never its value.
"""

import os
import re
from typing import Any, Optional, Union

import dagster as dg

from asp_core.settings import FIELDS, WorkspaceSettings
from dagster_asp.resource import AspWorkspace

SOURCE = "AspProcessorsComponent.workspace"
_ENV_TEMPLATE = re.compile(
    r"""^\s*\{\{\s*env(?:\.(?P<attr>\w+)|\(\s*['"](?P<call>\w+)['"]\s*\))\s*\}\}\s*$"""
)


class AspWorkspaceModel(dg.Model):
    """The ``AspWorkspace`` fields (strings accepted where templating gives strings)."""

    host: str
    port: Optional[Union[int, str]] = None  # noqa: UP007, UP045 - Dagster's schema reads these
    username: Optional[str] = None  # noqa: UP045
    password: Optional[str] = None  # noqa: UP045
    tls_ca_file: Optional[str] = None  # noqa: UP045
    tls_certificate_key_file: Optional[str] = None  # noqa: UP045
    auth_mechanism: Optional[str] = None  # noqa: UP045
    auth_source: Optional[str] = None  # noqa: UP045
    app_name: Optional[str] = None  # noqa: UP045
    connect_timeout_ms: Optional[Union[int, str]] = None  # noqa: UP007, UP045
    server_selection_timeout_ms: Optional[Union[int, str]] = None  # noqa: UP007, UP045
    socket_timeout_ms: Optional[Union[int, str]] = None  # noqa: UP007, UP045
    tls_allow_invalid_certificates: Optional[Union[bool, str]] = None  # noqa: UP007, UP045
    project_id: Optional[str] = None  # noqa: UP045
    workspace_name: Optional[str] = None  # noqa: UP045


def password_env_var(raw: Optional[str]) -> Optional[str]:  # noqa: UP045
    """The variable a password template names, if the password is exactly one."""
    found = _ENV_TEMPLATE.match(raw or "")
    return None if found is None else found.group("attr") or found.group("call")


def resolve_workspace(context: dg.ResolutionContext, model: AspWorkspaceModel) -> AspWorkspace:
    """The resource, its fields checked with the core (:class:`WorkspaceSettings`)."""
    env_name = password_env_var(model.password)
    values: dict[str, Any] = {
        name: context.resolve_value(getattr(model, name))
        for name in FIELDS
        if name != "password" or env_name is None
    }
    if env_name is not None:
        values["password"] = os.environ.get(env_name)
    settings = WorkspaceSettings.from_mapping(values, source=SOURCE)
    fields: dict[str, Any] = {name: getattr(settings, name) for name in FIELDS}
    if env_name is not None:
        fields["password"] = dg.EnvVar(env_name)
    return AspWorkspace(**fields)
