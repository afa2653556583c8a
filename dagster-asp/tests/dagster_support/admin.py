"""The emulator's Admin API as an ``AspAdmin`` resource, and the requests it received."""

from collections.abc import Mapping

from asp_emulator import Workspace
from dagster_asp.admin import AspAdmin


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
