"""The operator extra link to a stream processor's workspace in the Atlas UI."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

ATLAS_UI = "https://cloud.mongodb.com/v2"


def atlas_workspace_url(project_id: str | None, workspace_name: str | None) -> str | None:
    """The Atlas UI page of a stream processing workspace, or None without both ids."""
    if not project_id or not workspace_name:
        return None
    return f"{ATLAS_UI}/{quote(project_id, safe='')}#/streamProcessing/{quote(workspace_name)}"


class AspProcessorLink(BaseOperatorLink):
    """The "Atlas Stream Processing" link: set by the operator while it runs (from the
    connection's ``project_id`` and ``workspace_name``), pushed to XCom by the task runner."""

    name = "Atlas Stream Processing"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        return str(getattr(operator, "atlas_ui_url", None) or "")
