"""The workspace journal behind the emulated log downloads: lines by time and processor,
bounded, served as gzip-compressed JSON lines."""

from __future__ import annotations

import gzip
import json

from asp_emulator.journal import Journal


def test_lines_by_kind_time_and_processor() -> None:
    journal = Journal(max_lines=3)
    journal.operational("a", "created", state="CREATED")
    journal.operational(None, "workspace up")
    journal.audit("admin", "startStreamProcessor", "ok", "a", via="wire")
    assert [line.message for line in journal.lines("operational")] == ["created", "workspace up"]
    assert [line.message for line in journal.lines("operational", processor="a")] == ["created"]
    assert journal.lines("audit")[0].message == "admin: startStreamProcessor: ok"
    first = journal.lines("operational")[0].at
    assert journal.lines("operational", end=first - 1) == []
    assert len(journal.lines("operational", start=first)) == 2
    for n in range(5):
        journal.operational("b", f"line {n}")
    assert [line.message for line in journal.lines("operational")] == [
        "line 2",
        "line 3",
        "line 4",
    ]


def test_gzip_of_json_lines() -> None:
    journal = Journal()
    journal.operational("p", "STARTED -> FAILED", error="boom", code=125)
    journal.audit("mdb_sa_id_1", "POST processor_create", "error 409", "p")
    docs = [
        json.loads(line)
        for line in gzip.decompress(
            Journal.gzip(journal.lines("operational") + journal.lines("audit"), "ws")
        ).splitlines()
    ]
    assert docs[0]["workspace"] == "ws"
    assert docs[0]["t"].endswith("Z")
    assert (docs[0]["processor"], docs[0]["error"], docs[0]["code"]) == ("p", "boom", 125)
    assert (docs[1]["actor"], docs[1]["outcome"]) == ("mdb_sa_id_1", "error 409")
    assert Journal.gzip([], "ws") == gzip.compress(b"", mtime=0)
