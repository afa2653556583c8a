"""A raw client of the emulated Admin API for the emulator's tests: httpx over real TLS,
trusting the workspace's CA; a Bearer token of a project role; JSON bodies sent in the media
type asked for (Atlas's rule)."""

from __future__ import annotations

import json
import ssl
from typing import Any

import httpx
from asp_emulator import Workspace

V1 = "application/vnd.atlas.2023-02-01+json"


def http_client(ws: Workspace, auth: httpx.Auth | None = None, **kwargs: Any) -> httpx.Client:
    """An httpx client of ``ws``'s Admin API (close it)."""
    return httpx.Client(
        base_url=ws.admin_url,
        verify=ssl.create_default_context(cafile=ws.ca_file),
        auth=auth,
        timeout=10,
        **kwargs,
    )


def bearer_token(ws: Workspace, role: str = "GROUP_OWNER") -> str:
    """A Bearer token of a new service account with ``role``."""
    client_id, secret = ws.service_account(role=role)
    with http_client(ws) as http:
        reply = http.post(
            "/api/oauth/token", auth=(client_id, secret), data={"grant_type": "client_credentials"}
        )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


class Api:
    """``api(method, suffix, body, media, **params)``: one request under
    ``/api/atlas/v2/groups/{project}/streams{base}`` with a Bearer token of ``role``."""

    def __init__(
        self, ws: Workspace, role: str = "GROUP_OWNER", *, base: str = "", media: str = V1
    ) -> None:
        self.ws = ws
        self.media = media
        self.http = http_client(ws)
        self.http.headers["Authorization"] = f"Bearer {bearer_token(ws, role)}"
        self.base = f"/api/atlas/v2/groups/{ws.project_id}/streams{base}"

    def __call__(
        self, method: str, suffix: str = "", body: Any = None, media: str = "", **params: Any
    ) -> httpx.Response:
        media = media or self.media
        headers = {"Accept": media}
        content = None
        if body is not None:
            headers["Content-Type"] = media
            content = json.dumps(body)
        return self.http.request(
            method, self.base + suffix, headers=headers, content=content, params=params
        )

    def close(self) -> None:
        self.http.close()
