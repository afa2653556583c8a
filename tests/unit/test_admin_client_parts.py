"""The Admin API client's pure parts: Retry-After, pages, looks, error words."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any

import pytest

from asp_core.admin import errors
from asp_core.admin.pages import pages
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


def test_pages_stop_at_the_total_or_a_short_page() -> None:
    items = [{"n": i} for i in range(7)]
    asked: list[int] = []

    def fetch(params: Mapping[str, Any]) -> dict[str, Any]:
        asked.append(params["pageNum"])
        start = (params["pageNum"] - 1) * params["itemsPerPage"]
        return {"results": items[start : start + params["itemsPerPage"]], "totalCount": 7}

    assert list(pages(fetch, 3)) == items
    assert asked == [1, 2, 3]
    asked.clear()
    assert list(pages(fetch, 7)) == items
    assert asked == [1]  # the total is reached: no empty page asked for
    with pytest.raises(ValueError, match="items_per_page"):
        list(pages(fetch, 501))


def test_a_look_skips_fields_never_returned() -> None:
    doc = {"url": "https://a", "authentication": {"username": "u"}}
    assert _contains(doc, {"url": "https://a", "authentication": {"password": "p"}})
    assert not _contains(doc, {"url": "https://b"})


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
