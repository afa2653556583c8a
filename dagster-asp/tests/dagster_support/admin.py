"""The emulator's Admin API as an ``AspAdmin`` resource, the requests it received, and a
connection made FAILED while a step waits for it."""

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Optional

from asp_core.admin import AdminClient, AdminNotFoundError, ServiceAccount
from asp_emulator import Workspace
from dagster_asp.admin import AspAdmin
from dagster_support.processors import wait_for


def admin_resource(
    workspace: Workspace, *, role: str = "GROUP_STREAM_PROCESSING_OWNER", api_key: bool = False
) -> AspAdmin:
    """An ``AspAdmin`` of the emulated project with a new credential of ``role``."""
    fields: dict[str, object] = {
        "project_id": workspace.project_id,
        "base_url": workspace.admin_url,
        "ca_file": workspace.ca_file,
        "timeout": 10.0,
    }
    if api_key:
        fields["public_key"], fields["private_key"] = workspace.api_key(role=role)
    else:
        fields["client_id"], fields["client_secret"] = workspace.service_account(role=role)
    return AspAdmin(**fields)  # type: ignore[arg-type]


def requests_since(workspace: Workspace, before: Mapping[str, int]) -> dict[str, int]:
    """Admin API requests (``"METHOD route"``) received since ``before``."""
    now = workspace.admin_request_counts()
    return {key: n - before.get(key, 0) for key, n in now.items() if n != before.get(key, 0)}


def writes(requests: Mapping[str, int]) -> dict[str, int]:
    """The requests that change something (not GETs, not the token)."""
    return {k: n for k, n in requests.items() if not k.startswith("GET") and "token" not in k}


def fail_once_created(
    workspace: Workspace,
    name: str,
    message: str,
    *,
    in_workspace: Optional[str] = None,  # noqa: UP045
) -> Callable[[], None]:
    """Make connection ``name`` FAILED as soon as it exists (a thread polling the emulator,
    bounded); returns ``join()``, which re-raises what went wrong in the thread."""
    errors: list[BaseException] = []
    where = in_workspace or workspace.workspace_name

    account = ServiceAccount(*workspace.service_account())

    def run() -> None:
        try:
            with AdminClient(
                workspace.project_id, account, base_url=workspace.admin_url,
                ca_file=workspace.ca_file,
            ) as client:  # fmt: skip

                def created() -> bool:
                    try:
                        client.get_connection(where, name, attempts=1)
                    except AdminNotFoundError:
                        return False
                    return True

                wait_for(created, what=f"connection {name} created")
            workspace.fail_admin_connection(name, message, workspace=where)
        except BaseException as exc:  # reported by join()
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def join() -> None:
        thread.join(60)
        assert not thread.is_alive()
        if errors:
            raise errors[0]

    return join


@contextlib.contextmanager
def after_requests(
    workspace: Workspace, key: str, n: int, action: Callable[[], object]
) -> Iterator[None]:
    """Run ``action`` (in a thread) once ``key`` (``"GET connection"``) has been received
    ``n`` more times (within 60 s): "mid-wait", after the code under test looked."""
    start = workspace.admin_request_counts().get(key, 0)
    done = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 60
        while not done.is_set() and time.monotonic() < deadline:
            if workspace.admin_request_counts().get(key, 0) >= start + n:
                action()
                return
            done.wait(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(60)
