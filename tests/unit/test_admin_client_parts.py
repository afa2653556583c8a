"""The Admin API client's pure parts: Retry-After, pages, looks, error words, names."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from asp_core.admin import AdminClient, ServiceAccount, errors
from asp_core.admin.errors import AdminApiError, AdminNotFoundError, is_gone
from asp_core.admin.pages import Pager
from asp_core.admin.retries import contains as _contains
from asp_core.admin.retries import retry_after as _retry_after
from asp_core.admin.versions import media_type
from asp_core.errors import Unretryable


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert _retry_after(None) is None
    assert _retry_after("") is None
    assert _retry_after("7") == 7.0
    assert _retry_after("soon") is None
    later = email.utils.formatdate(time.time() + 3600, usegmt=True)
    assert 3000 < (_retry_after(later) or 0) <= 3600
    assert _retry_after(email.utils.formatdate(0, usegmt=True)) == 0.0


@pytest.mark.parametrize("value", ["-5", "1.5", "\u00b2", "\u0661\u0662", "nan", "1e3", "  "])
def test_an_absurd_retry_after_is_ignored_not_raised(value: str) -> None:
    # a superscript two or Arabic-Indic digits pass str.isdigit() but not float(): the
    # client raised ValueError from inside its retry loop
    assert _retry_after(value) is None


def _read(pager: Pager, fetch: Callable[[Mapping[str, Any]], dict[str, Any]]) -> list[Any]:
    while (params := pager.next()) is not None:
        pager.add(fetch(params))
    return pager.items


class Listing:
    """A server's paged list: ``change(page)`` may alter it after that page is served."""

    def __init__(self, names: list[str], change: Callable[[int, list[str]], None] | None = None):
        self.names = names
        self.change = change or (lambda page, names: None)
        self.asked: list[int] = []

    def __call__(self, params: Mapping[str, Any]) -> dict[str, Any]:
        page, size = params["pageNum"], params["itemsPerPage"]
        self.asked.append(page)
        start = (page - 1) * size
        doc = {
            "results": [{"name": n} for n in self.names[start : start + size]],
            "totalCount": len(self.names),
        }
        self.change(page, self.names)
        return doc


def test_pages_stop_at_the_total_or_a_short_page() -> None:
    names = [f"c{i}" for i in range(7)]
    listing = Listing(names)
    assert _read(Pager(3), listing) == [{"name": n} for n in names]
    assert listing.asked == [1, 2, 3]
    listing.asked.clear()
    assert _read(Pager(7), listing) == [{"name": n} for n in names]
    assert listing.asked == [1]  # the total is reached: no empty page asked for
    with pytest.raises(ValueError, match="items_per_page"):
        Pager(501)


def test_an_item_deleted_between_pages_is_not_lost() -> None:
    def delete_first(page: int, names: list[str]) -> None:
        if page == 1 and "c0" in names:
            names.remove("c0")  # page 2 now starts at c3: c2 would be skipped

    listing = Listing([f"c{i}" for i in range(6)], delete_first)
    pager = Pager(2)
    assert [item["name"] for item in _read(pager, listing)] == ["c1", "c2", "c3", "c4", "c5"]
    assert pager.pass_number == 2


def test_an_item_created_before_the_offset_comes_once() -> None:
    def insert_first(page: int, names: list[str]) -> None:
        if page == 1 and "new" not in names:
            names.insert(0, "new")  # page 2 now repeats c1

    listing = Listing([f"c{i}" for i in range(4)], insert_first)
    names = [item["name"] for item in _read(Pager(2), listing)]
    assert sorted(names) == ["c0", "c1", "c2", "c3", "new"]


def test_a_server_that_repeats_its_pages_ends_in_an_error_not_a_loop() -> None:
    def same_page(params: Mapping[str, Any]) -> dict[str, Any]:
        return {"results": [{"name": "a"}, {"name": "b"}]}  # pageNum ignored, no totalCount

    with pytest.raises(AdminApiError, match="changed while it was read, 3 times"):
        _read(Pager(2), same_page)


def test_a_list_that_keeps_changing_is_an_error() -> None:
    def grow(page: int, names: list[str]) -> None:
        names.append(f"more{len(names)}")

    with pytest.raises(AdminApiError, match="changed while it was read"):
        _read(Pager(2), Listing(["a", "b", "c"], grow))


def test_a_look_confirms_only_what_the_document_shows() -> None:
    doc = {"url": "https://a", "authentication": {"username": "u"}}
    assert _contains(doc, {"url": "https://a", "authentication": {"username": "u"}})
    assert not _contains(doc, {"url": "https://b"})
    # a write-only secret is never shown: a lost PATCH that rotates it is not "done"
    assert not _contains(doc, {"url": "https://a", "authentication": {"password": "p"}})
    # a workspace's PATCH fields live under dataProcessRegion in its document
    assert not _contains({"dataProcessRegion": {"region": "R"}}, {"region": "R"})


def test_a_404_is_gone_only_when_atlas_names_the_resource_missing() -> None:
    def not_found(code: str | None) -> AdminNotFoundError:
        error = errors.error_for(404, "DELETE", "/x", {"errorCode": code} if code else "")
        assert isinstance(error, AdminNotFoundError)
        return error

    assert is_gone(not_found("STREAM_TENANT_NOT_FOUND_FOR_NAME"))
    assert not is_gone(not_found("GROUP_NOT_FOUND"))  # a wrong project ID
    assert not is_gone(not_found(None))  # no Atlas answer (a wrong base URL, a proxy)


@pytest.mark.parametrize("name", ["", ".", ".."])
def test_names_that_are_no_path_segment_are_refused(name: str) -> None:
    # ".../connections/.." is normalized to the workspace's own path: a DELETE there
    # deleted the workspace
    client = AdminClient("p" * 24, ServiceAccount("id", "secret"), base_url="https://x.invalid")
    with client:
        for call in (
            lambda: client.delete_connection("ws", name),
            lambda: client.delete_processor("ws", name),
            lambda: client.delete_workspace(name),
            lambda: client.get_connection(name, "c"),
        ):
            with pytest.raises(ValueError, match=r"'\.\.', not"):
                call()
    with pytest.raises(ValueError, match="project_id"):
        AdminClient(name, ServiceAccount("id", "secret"))


def test_error_words() -> None:
    forbidden = errors.error_for(403, "POST", "/x", {"detail": "No.", "errorCode": "E"})
    assert isinstance(forbidden, errors.AdminForbiddenError)
    assert isinstance(forbidden, Unretryable)
    assert "Project Owner or Project Stream Processing Owner" in str(forbidden)
    assert forbidden.error_code == "E"
    assert not isinstance(errors.error_for(429, "GET", "/x", None), Unretryable)
    assert not isinstance(errors.error_for(503, "GET", "/x", "text"), Unretryable)
    assert isinstance(errors.error_for(406, "GET", "/x", {}), errors.AdminRequestError)
    assert media_type("2023-02-01") == "application/vnd.atlas.2023-02-01+json"
