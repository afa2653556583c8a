"""``asp_core.admin`` under adversity, against the emulated Admin API over real TLS: names
that URL normalization turns into another path, a wrong project, lost PATCHes whose
effect a look cannot see, a token endpoint that stays silent before a write, a write that
lands after the client looked, absurd ``Retry-After``, a list that changes between pages,
a log download that fails half-way, a server that is not Atlas (redirects, HTML pages)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from asp_core.admin import (
    AdminApiError,
    AdminClient,
    AdminDownloadTooLargeError,
    AdminNotFoundError,
    AdminRateLimitedError,
    AdminRequestError,
    AdminServerError,
    ApiKey,
    AsyncAdminClient,
    ServiceAccount,
)
from asp_core.admin.waits import synchronous as waits
from asp_emulator import Workspace
from tests.support.admin_client import unique

MakeClient = Callable[..., AdminClient]


@pytest.fixture
def workspace(make_client: MakeClient) -> Any:
    """A workspace made over HTTP for the test (deleted after it)."""
    client = make_client()
    name = unique("adv")
    client.create_workspace(name)
    yield name
    client.delete_workspace(name)


def test_a_dot_name_never_reaches_the_workspace(make_client: MakeClient, workspace: str) -> None:
    client = make_client()
    for delete in (client.delete_connection, client.delete_processor):
        with pytest.raises(ValueError, match=r"'\.\.'"):
            delete(workspace, "..")  # was DELETE .../streams/{workspace}: the workspace went
    assert client.get_workspace(workspace)["name"] == workspace


async def test_one_api_key_shared_by_threads_and_tasks(
    ws: Workspace, make_client: MakeClient
) -> None:
    # httpx's DigestAuth keeps one challenge and a nonce count per client, shared by every
    # thread (blocking client) and task (async client) that uses it
    key = ApiKey(*ws.api_key())
    blocking = make_client(key)
    errors: list[BaseException] = []

    def calls() -> None:
        try:
            for _ in range(5):
                blocking.get_workspace(ws.workspace_name)
        except BaseException as exc:  # collected: the assertion below names it
            errors.append(exc)

    threads = [threading.Thread(target=calls) for _ in range(8)]
    for thread in threads:
        thread.start()
    async with AsyncAdminClient(
        ws.project_id, key, base_url=ws.admin_url, ca_file=ws.ca_file
    ) as client:
        got = await asyncio.gather(*(client.list_workspaces() for _ in range(20)))
    for thread in threads:
        await asyncio.to_thread(thread.join, 10)
    assert errors == []
    assert all(ws.workspace_name in [w["name"] for w in page] for page in got)


def test_a_wrong_project_is_an_error_not_a_deletion(ws: Workspace, make_client: MakeClient) -> None:
    client = make_client()
    other = AdminClient(
        "f" * 24,
        ServiceAccount(*ws.service_account()),
        base_url=ws.admin_url,
        ca_file=ws.ca_file,
        backoff=0.01,
    )
    with other:
        with pytest.raises(AdminNotFoundError) as caught:
            other.delete_workspace(ws.workspace_name)  # was "success": a 404 is not "gone"
        assert caught.value.error_code == "GROUP_NOT_FOUND"
        with pytest.raises(AdminNotFoundError):
            waits.workspace_gone(other, ws.workspace_name, timeout=0)
    assert client.get_workspace(ws.workspace_name)["name"] == ws.workspace_name


def test_a_lost_patch_that_a_look_cannot_see_is_resent(
    ws: Workspace, make_client: MakeClient, workspace: str
) -> None:
    client = make_client()
    client.create_connection(
        workspace,
        {"name": "k", "type": "Kafka", "authentication": {"username": "u", "password": "old"}},
    )
    before = ws.admin_request_counts().get("PATCH connection", 0)
    ws.inject_admin_fault("PATCH", "*/connections/k", status=500)  # before the effect
    client.update_connection(workspace, "k", {"authentication": {"password": "rotated"}})
    # the document never shows a password: the look used to count that as "done", and the
    # rotation was silently dropped
    assert ws.admin_request_counts()["PATCH connection"] == before + 2

    ws.inject_admin_fault("PATCH", f"*/streams/{workspace}", status=500)
    moved = client.update_workspace(workspace, {"cloudProvider": "AWS", "region": "DUBLIN_IRL"})
    assert moved["dataProcessRegion"]["region"] == "DUBLIN_IRL"
    assert client.get_workspace(workspace)["dataProcessRegion"]["region"] == "DUBLIN_IRL"


def test_a_silent_token_endpoint_does_not_make_a_write_unknown(
    ws: Workspace, make_client: MakeClient, workspace: str
) -> None:
    client = make_client(timeout=0.5, attempts=3)
    before = ws.admin_request_counts().get("POST connections", 0)
    ws.inject_admin_fault("POST", "/api/oauth/token", silent=True, times=2)
    # nothing went out while no token came: retried, not "outcome unknown, never resent"
    created = client.create_connection(workspace, {"name": "after-silence", "type": "Sample"})
    assert created["name"] == "after-silence"
    assert ws.admin_request_counts()["POST connections"] == before + 1


def test_a_write_that_lands_after_the_look_is_not_an_error(
    ws: Workspace, make_client: MakeClient, workspace: str
) -> None:
    client = make_client()
    before = ws.admin_request_counts()
    ws.inject_admin_fault("POST", "*/connections", status=503, late_effect=True)
    # POST (503, still under way) -> look (absent) -> the first POST lands -> resend (409)
    # -> look again: created, once
    created = client.create_connection(workspace, {"name": "late", "type": "Sample"})
    assert created["name"] == "late"
    assert ws.admin_request_counts()["POST connections"] == before.get("POST connections", 0) + 2
    assert [c["name"] for c in client.list_connections(workspace)].count("late") == 1

    pipeline = [
        {"$source": {"connectionName": "sample_stream_solar"}},
        {"$emit": {"connectionName": "__testLog", "topic": "late"}},
    ]
    client.create_processor(workspace, "p", pipeline)
    ws.inject_admin_fault("POST", "*/processor/p:start", status=503, late_effect=True)
    client.start_processor(workspace, "p")  # the resend's "already running" is judged by a look
    assert client.get_processor(workspace, "p")["state"] == "STARTED"


def test_an_absurd_retry_after_is_bounded_by_the_deadline(
    ws: Workspace, make_client: MakeClient
) -> None:
    client = make_client(deadline=2.0, max_wait=600.0)
    client.list_workspaces()  # the token first
    ws.inject_admin_fault("GET", "*/streams", status=429, retry_after=3600, times=-1)
    started = time.monotonic()
    with pytest.raises(AdminRateLimitedError) as caught:
        client.list_workspaces()  # used to sleep max_wait (here 600 s) past a 2 s deadline
    assert time.monotonic() - started < 2.0
    assert caught.value.retry_after == 3600


def test_a_list_that_changes_between_pages_loses_nothing(
    ws: Workspace, make_client: MakeClient, workspace: str
) -> None:
    client = make_client()
    names = [f"c{i}" for i in range(6)]
    for name in names:
        client.create_connection(workspace, {"name": name, "type": "Sample"})
    other = make_client()
    deleted: list[str] = []

    def after_the_first_page(response: httpx.Response) -> None:
        url = response.request.url
        first = url.params.get("pageNum") == "1" and url.path.endswith("/connections")
        if first and not deleted:  # another client deletes c0: every later item moves back one
            other.delete_connection(workspace, "c0")
            deleted.append("c0")

    client._http.event_hooks["response"].append(after_the_first_page)
    listed = [c["name"] for c in client.list_connections(workspace, items_per_page=2)]
    assert deleted == ["c0"]
    assert listed == names[1:]  # c2 used to be skipped (and c0 kept)


def test_a_failed_log_download_leaves_the_file_as_it_was(
    ws: Workspace, make_client: MakeClient, tmp_path: Path
) -> None:
    client = make_client()
    target = tmp_path / "operational.log.gz"
    target.write_bytes(b"yesterday's logs")
    with pytest.raises(AdminDownloadTooLargeError):
        client.save_logs(ws.workspace_name, target, max_bytes=10)
    assert target.read_bytes() == b"yesterday's logs"  # was emptied
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no partial file left
    written = client.save_logs(ws.workspace_name, target)
    assert written == target.stat().st_size > 0


def test_a_429_from_the_token_endpoint_honours_retry_after(
    ws: Workspace, make_client: MakeClient
) -> None:
    client = make_client()  # a fresh token cache: the first call fetches a token
    ws.inject_admin_fault("POST", "/api/oauth/token", status=429, retry_after=1)
    started = time.monotonic()
    client.list_workspaces()  # was: the client's own backoff (here 0.01 s), not Retry-After
    assert time.monotonic() - started >= 1.0


@contextmanager
def _not_atlas(
    status: int, body: bytes, headers: dict[str, str], promised: int | None = None
) -> Iterator[tuple[str, list[str]]]:
    """A plain HTTP server on 127.0.0.1 answering every request ``status`` with ``body`` (a
    proxy's page, a wrong base URL; with ``promised``, a ``Content-Length`` the body never
    reaches: a connection cut mid-body): its URL, and the requests it got."""
    seen: list[str] = []

    class Answer(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            seen.append(f"{self.command} {self.path.split('?')[0].rsplit('/', 1)[-1]}")
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            length = len(body) if promised is None else promised
            for key, value in {**headers, "Content-Length": str(length)}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        do_GET = do_POST = do_PATCH = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _client_of(url: str) -> AdminClient:
    key = ApiKey("public", "private")  # no Digest challenge comes: sent without one
    return AdminClient("p" * 24, key, base_url=url, backoff=0.01, attempts=2)


def test_a_redirect_is_an_error_not_a_success() -> None:
    # a 3xx counted as "< 400": a create answered by a redirect with an empty body returned
    # None, as if it had happened (and a delete "succeeded")
    redirect = _not_atlas(301, b"", {"Location": "https://elsewhere.invalid/"})
    with redirect as (url, seen), _client_of(url) as client:
        with pytest.raises(AdminRequestError, match="redirect, not followed"):
            client.create_connection("ws", {"name": "c", "type": "Sample"})
        with pytest.raises(AdminRequestError, match="redirect"):
            client.delete_workspace("ws")
    assert seen == ["POST connections", "DELETE ws"]


def test_a_page_that_is_not_json_leaves_a_write_unknown_and_never_resent() -> None:
    # a 2xx that is no Atlas answer (a captive portal's page) raised json's ValueError
    page = b"<html>Sign in to the hotel wifi</html>"
    portal = _not_atlas(200, page, {"Content-Type": "text/html"})
    with portal as (url, seen), _client_of(url) as client:
        with pytest.raises(AdminServerError, match="not JSON") as caught:
            client.create_connection("ws", {"name": "c", "type": "Sample"})
        assert not caught.value.retry  # its look got a page too: the outcome is unknown
        with pytest.raises(AdminServerError, match="not JSON"):
            client.list_workspaces()  # a read is retried, then raised
    assert seen == ["POST connections", "GET c", "GET streams", "GET streams"]


def test_a_log_download_cut_mid_body_is_an_error_and_leaves_the_file(tmp_path: Path) -> None:
    target = tmp_path / "audit.log.gz"
    target.write_bytes(b"the last complete download")
    gzip_start = b"\x1f\x8b\x08\x00" + b"\x00" * 60
    cut = _not_atlas(200, gzip_start, {"Content-Type": "x/y"}, promised=1_000_000)
    with cut as (url, seen), _client_of(url) as client:
        with pytest.raises(AdminApiError, match="RemoteProtocolError"):
            client.save_logs("ws", target, "audit")  # was: the file left with 64 bytes
        with pytest.raises(AdminApiError, match="RemoteProtocolError"):
            client.download_logs("ws", "audit")
    assert seen == ["GET auditLogs"] * 4  # a read: retried (attempts=2), then raised
    assert target.read_bytes() == b"the last complete download"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


@pytest.mark.parametrize("api_key", [False, True], ids=["service_account", "api_key"])
def test_an_untrusted_certificate_is_a_tls_error_never_retried(
    ws: Workspace, tmp_path: Path, caplog: pytest.LogCaptureFixture, api_key: bool
) -> None:
    import trustme

    from asp_core.admin import AdminTlsError
    from asp_core.errors import is_unretryable
    from tests.support.admin_client import client_options

    stranger = tmp_path / "stranger.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    credential = ApiKey(*ws.api_key()) if api_key else ServiceAccount(*ws.service_account())
    options = client_options(ws, ca_file=str(stranger), attempts=5)
    with (
        caplog.at_level("WARNING", logger="asp_core.admin"),
        AdminClient(ws.project_id, credential, **options) as client,
        pytest.raises(AdminTlsError, match="is the CA file right") as caught,
    ):
        client.create_workspace(unique("tls"))
    assert is_unretryable(caught.value)
    assert "retrying" not in caplog.text  # one attempt: no retry fixes a certificate
