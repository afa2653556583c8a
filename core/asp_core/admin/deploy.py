"""What a declarative deploy of a workspace or a connection must do, decided once (pure: no
I/O). Airflow's operators and Dagster's ops and assets read the current document, ask
:func:`plan_connection` or :func:`plan_workspace`, send what the plan says and wait with
:func:`judge_connection`.

Secrets are write-only in Atlas: a connection's document never shows its password, so a
deploy cannot tell whether a secret changed. A definition never carries secrets (they come
from the orchestrator's secret store as a separate mapping); when secrets are given they are
sent (``update_secrets=True``, the default, so the workspace always ends as declared), or
only when something else changes (``update_secrets=False``: an unchanged deploy is one GET).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from asp_core.errors import AspInputError

#: Fields Atlas never returns (write-only secrets), at any depth of a connection's body.
SECRET_FIELDS = frozenset(
    {"password", "clientSecret", "sslKey", "sslKeyPassword", "secretAccessKey", "sasToken"}
)
#: Fields of a connection's document that the server sets (never part of a definition).
CONNECTION_READ_ONLY = frozenset({"_id", "id", "state", "links", "errorMessage"})
#: Fields whose change Atlas refuses in place: the connection must be deleted and created.
REPLACE_ONLY = ("type", "networking")
#: A workspace's fields that its document reports and a PATCH can change.
WORKSPACE_READ_ONLY = frozenset({"_id", "id", "groupId", "hostnames", "connections", "links"})

Action = Literal["create", "update", "replace", "none"]


@dataclass(frozen=True)
class DeployPlan:
    """What to send: ``action`` and its ``body`` (kept out of ``repr``: it may hold secrets);
    ``changed``: the dotted paths that differ (names only, never values); ``reason``: one
    line for the log."""

    action: Action
    body: dict[str, Any] = field(repr=False)
    changed: tuple[str, ...] = ()
    reason: str = ""

    @property
    def writes(self) -> bool:
        """Whether the plan sends anything."""
        return self.action != "none"


@dataclass(frozen=True)
class ConnectionVerdict:
    """A connection's condition: ``state`` as Atlas reports it (None when gone)."""

    state: str | None
    message: str = ""

    @property
    def gone(self) -> bool:
        return self.state is None

    @property
    def ready(self) -> bool:
        return self.state == "READY"

    @property
    def failed(self) -> bool:
        return self.state == "FAILED"

    @property
    def settled(self) -> bool:
        """READY, FAILED or gone: no wait changes it."""
        return self.state in (None, "READY", "FAILED")


def secret_paths(body: Any, prefix: str = "") -> list[str]:
    """The dotted paths of the secret fields in ``body`` (values never read)."""
    found: list[str] = []
    if isinstance(body, Mapping):
        for key, value in body.items():
            path = f"{prefix}{key}"
            if key in SECRET_FIELDS:
                found.append(path)
            else:
                found.extend(secret_paths(value, f"{path}."))
    elif isinstance(body, list):
        for i, item in enumerate(body):
            found.extend(secret_paths(item, f"{prefix}{i}."))
    return found


def refuse_secrets(definition: Mapping[str, Any], what: str = "the definition") -> None:
    """:class:`AspInputError` when ``definition`` carries a secret field: secrets come from
    a secret store (an Airflow connection, a Dagster resource), never from code."""
    paths = secret_paths(definition)
    if paths:
        raise AspInputError(
            f"{what} carries secret field(s) {', '.join(paths)}: pass secrets separately "
            "(from a secret store), never in the definition."
        )


def with_secrets(definition: Mapping[str, Any], secrets: Mapping[str, Any]) -> dict[str, Any]:
    """``definition`` with each ``secrets`` value set at its dotted path
    (``{"authentication.password": ...}``), intermediate objects created as needed."""
    body = copy.deepcopy(dict(definition))
    for path, value in secrets.items():
        keys = path.split(".")
        if not all(keys):
            raise AspInputError(f"secret path {path!r} is not a dotted field path")
        node = body
        for key in keys[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        node[keys[-1]] = value
    return body


def differences(current: Any, desired: Any, prefix: str = "") -> list[str]:
    """Dotted paths where ``current`` does not show ``desired`` (fields ``desired`` does not
    name are left alone; secret fields, which Atlas never returns, are skipped)."""
    if isinstance(desired, Mapping) and isinstance(current, Mapping):
        paths: list[str] = []
        for key, value in desired.items():
            if key in SECRET_FIELDS:
                continue
            path = f"{prefix}{key}"
            if key not in current:
                paths.append(path)
            else:
                paths.extend(differences(current[key], value, f"{path}."))
        return paths
    return [] if current == desired else [prefix.rstrip(".") or "."]


def plan_connection(
    current: Mapping[str, Any] | None,
    name: str,
    definition: Mapping[str, Any],
    secrets: Mapping[str, Any] | None = None,
    *,
    update_secrets: bool = True,
) -> DeployPlan:
    """The plan that makes connection ``name`` match ``definition`` (+ ``secrets``).

    ``current``: its document (None when absent). A different ``type`` or ``networking``
    plans ``replace`` (Atlas refuses them in place; the caller decides whether deleting
    the connection its processors use is allowed).
    """
    if not isinstance(name, str) or not name:
        raise AspInputError("connection_name must be a non-empty string")
    if not isinstance(definition, Mapping):
        raise AspInputError("the connection definition must be a mapping (the Admin API body)")
    if definition.get("name", name) != name:
        raise AspInputError(
            f"the definition names {definition['name']!r} but the connection is {name!r}"
        )
    if not isinstance(definition.get("type"), str):
        raise AspInputError(f"connection {name!r}: the definition needs a 'type'")
    refuse_secrets(definition, f"connection {name!r}: the definition")
    bad = sorted(set(definition) & CONNECTION_READ_ONLY)
    if bad:
        raise AspInputError(f"connection {name!r}: {', '.join(bad)} are set by Atlas, not sent")
    desired = {**definition, "name": name}
    body = with_secrets(desired, secrets or {})
    if current is None:
        return DeployPlan("create", body, reason="absent")
    changed = tuple(differences(current, desired))
    replace = [p for p in changed if p.split(".")[0] in REPLACE_ONLY]
    if replace:
        why = f"{', '.join(replace)} cannot change in place"
        return DeployPlan("replace", body, changed, reason=why)
    if changed:
        return DeployPlan("update", body, changed, reason=f"{', '.join(changed)} differ")
    if secrets and update_secrets:
        return DeployPlan("update", body, reason="secrets are write-only: sent again")
    return DeployPlan("none", {}, reason="unchanged")


def plan_workspace(
    current: Mapping[str, Any] | None,
    name: str,
    *,
    cloud_provider: str = "AWS",
    region: str = "VIRGINIA_USA",
    tier: str | None = None,
    max_tier_size: str | None = None,
) -> DeployPlan:
    """The plan that makes workspace ``name`` match: create it, PATCH its region or stream
    config (the fields Atlas's PATCH takes), or nothing."""
    if not isinstance(name, str) or not name:
        raise AspInputError("workspace_name must be a non-empty string")
    config = {k: v for k, v in (("tier", tier), ("maxTierSize", max_tier_size)) if v}
    region_doc = {"cloudProvider": cloud_provider, "region": region}
    if current is None:
        body: dict[str, Any] = {"name": name, "dataProcessRegion": region_doc}
        if config:
            body["streamConfig"] = config
        return DeployPlan("create", body, reason="absent")
    desired: dict[str, Any] = {"dataProcessRegion": region_doc}
    if config:
        desired["streamConfig"] = config
    changed = tuple(differences(current, desired))
    if not changed:
        return DeployPlan("none", {}, reason="unchanged")
    patch: dict[str, Any] = {}
    if any(p.startswith("dataProcessRegion") for p in changed):
        patch.update(region_doc)
    if any(p.startswith("streamConfig") for p in changed):
        patch["streamConfig"] = config
    return DeployPlan("update", patch, changed, reason=f"{', '.join(changed)} differ")


def judge_connection(doc: Mapping[str, Any] | None) -> ConnectionVerdict:
    """A connection's condition from its document (None: gone). A document without
    ``state`` (older Atlas answers) counts as READY."""
    if doc is None:
        return ConnectionVerdict(None, "gone")
    state = doc.get("state")
    state = state if isinstance(state, str) and state else "READY"
    message = doc.get("errorMessage")
    words = message if isinstance(message, str) and message else ""
    if state == "FAILED" and not words:
        words = "Atlas reports the connection FAILED without a message"
    return ConnectionVerdict(state, words)
