"""What one leg of a deploy or a delete did and what it awaits next (pure: no I/O), in the
words every orchestrator logs and raises.

A leg (:mod:`asp_core.admin.apply`) looks, asks the core's plan, sends what the plan says
and returns a :class:`Step`: its action, and what to await next (a connection READY, a
connection or workspace gone). After an awaited "gone" with ``again``, the leg runs again
from a fresh look (a connection replaced, or one being deleted, is then created). Where the
wait happens is the orchestrator's choice (its worker, a triggerer); :meth:`Step.resume`
is the JSON a deferred task carries (names and field paths, never a body or a secret).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from asp_core.admin.deploy import DeployPlan, judge_connection
from asp_core.admin.errors import AdminConnectionFailedError
from asp_core.errors import AspDefinitionConflictError, AspInputError

#: The sample connection a workspace made ``:withSampleConnections`` gets.
SAMPLE_CONNECTION = "sample_stream_solar"
#: What a deploy of a workspace does when the workspace differs (region or stream config).
IF_DIFFERS = ("update", "skip", "error")

Awaits = Literal["ready", "gone"]


def connection_what(workspace: str, name: str) -> str:
    """``connection 'name' of workspace 'workspace'``: how messages name a connection."""
    return f"connection {name!r} of workspace {workspace!r}"


def workspace_what(name: str) -> str:
    return f"workspace {name!r}"


def failed_error(workspace: str, name: str, message: str) -> AdminConnectionFailedError:
    """The error of a connection Atlas reports FAILED (``message``: Atlas's words)."""
    return AdminConnectionFailedError(f"{connection_what(workspace, name)} is FAILED: {message}")


def replace_refused(workspace: str, name: str, plan: DeployPlan) -> AspDefinitionConflictError:
    """The error of a change Atlas refuses in place, when replacing is not allowed."""
    return AspDefinitionConflictError(
        f"Connection {name!r} of workspace {workspace!r}: {plan.reason}; deleting and creating "
        "it stops the processors that use it, so it is not done unless allow_replace=True."
    )


def workspace_differs(name: str, changed: tuple[str, ...], if_differs: str) -> str:
    fields = ", ".join(changed)
    return f"Workspace {name!r} exists with a different {fields} (if_differs={if_differs!r})"


def check_if_differs(value: Any) -> str:
    if value not in IF_DIFFERS:
        raise AspInputError(f"if_differs must be one of {', '.join(IF_DIFFERS)}, not {value!r}.")
    return str(value)


@dataclasses.dataclass(frozen=True)
class Step:
    """One leg's outcome.

    ``connection``: the connection acted on (None: the workspace itself). ``action``:
    ``create``, ``update``, ``replace`` or ``none`` for a deploy; ``delete`` or ``none`` for
    a delete. ``changed``: the field paths that differ; ``reason``: the plan's words.
    ``doc``: the resource's last document (None when absent or deleted). ``awaits``: what
    to wait for next (None: done), of connection ``awaited`` (None: the workspace);
    ``first``: that connection's document when already read (the wait's first look).
    ``again``: after the awaited "gone", run the leg again (a fresh look).
    ``secrets_sent``: the paths of the secrets sent (never values). ``warning``: what to
    log as a warning.
    """

    workspace: str
    connection: str | None
    action: str
    reason: str = ""
    changed: tuple[str, ...] = ()
    doc: Mapping[str, Any] | None = dataclasses.field(default=None, repr=False, compare=False)
    awaits: Awaits | None = None
    awaited: str | None = None
    first: Mapping[str, Any] | None = dataclasses.field(default=None, repr=False, compare=False)
    again: bool = False
    secrets_sent: tuple[str, ...] = ()
    warning: str | None = None

    @property
    def what(self) -> str:
        """The resource, for messages."""
        if self.connection is None:
            return workspace_what(self.workspace)
        return connection_what(self.workspace, self.connection)

    @property
    def awaited_what(self) -> str:
        """What is awaited, for messages."""
        if self.awaited is None:
            return workspace_what(self.workspace)
        return connection_what(self.workspace, self.awaited)

    @property
    def note(self) -> str:
        """The line to log: ``Connection 'c' of workspace 'w': create (absent).``"""
        what = self.what[0].upper() + self.what[1:]
        return f"{what}: {self.action} ({self.reason})."

    @property
    def state(self) -> str | None:
        """The connection's state as last seen (None for a workspace, or when gone)."""
        if self.connection is None or self.doc is None:
            return None
        return judge_connection(self.doc).state

    @property
    def deleted(self) -> bool:
        """Whether a delete leg asked for a deletion (or found one under way)."""
        return self.action == "delete"

    def after(self, previous: Step | None) -> Step:
        """This leg's outcome as the deploy's, given the leg before the awaited "gone": a
        replace stays a replace (its fields and reason)."""
        if previous is None or previous.action != "replace":
            return self
        return dataclasses.replace(
            self, action="replace", changed=previous.changed, reason=previous.reason
        )

    def seen(self, doc: Mapping[str, Any] | None) -> Step:
        """The step once its wait saw ``doc`` (the awaited document; None: gone), with
        nothing more to await."""
        changes: dict[str, Any] = {"awaits": None, "again": False, "first": doc}
        if self.awaited == self.connection:  # the resource itself was awaited
            changes["doc"] = doc
        return dataclasses.replace(self, **changes)

    def judge_first(self) -> Literal["ready", "failed", "wait"]:
        """A READY wait judged on the document already read: ``ready``, ``failed`` (raise
        :meth:`failure`) or ``wait`` (not READY yet, or not read)."""
        if self.first is None:
            return "wait"
        verdict = judge_connection(self.first)
        if verdict.ready:
            return "ready"
        return "failed" if verdict.failed else "wait"

    def failure(self) -> AdminConnectionFailedError:
        """The error of the awaited connection FAILED in :attr:`first`."""
        verdict = judge_connection(self.first)
        return failed_error(self.workspace, str(self.awaited), verdict.message)

    def resume(self) -> dict[str, Any]:
        """JSON for a deferred task: what :meth:`after` needs (no document, no secret)."""
        return {"action": self.action, "changed": list(self.changed), "reason": self.reason}

    @classmethod
    def from_resume(cls, workspace: str, connection: str | None, data: Mapping[str, Any]) -> Step:
        return cls(
            workspace,
            connection,
            str(data.get("action") or "none"),
            str(data.get("reason") or ""),
            tuple(str(p) for p in data.get("changed") or ()),
        )
