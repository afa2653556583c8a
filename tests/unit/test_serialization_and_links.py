"""BSON values to JSON, the Atlas UI link, and the Airflow version flags."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import json
import uuid

from bson import Binary, Decimal128, Int64, MaxKey, ObjectId, Regex, Timestamp

from airflow_provider_asp.links.asp import AspProcessorLink, atlas_workspace_url
from airflow_provider_asp.version_compat import (
    AIRFLOW_V_3_0_PLUS,
    AIRFLOW_V_3_1_PLUS,
    AIRFLOW_V_3_2_PLUS,
    AIRFLOW_V_3_3_PLUS,
)
from asp_core.jsonable import to_jsonable


def test_bson_values_become_json():
    value = {
        "ts": Timestamp(1700000000, 3),
        "i64": Int64(2**40),
        "bin": Binary(b"\x00\x01"),
        "uuid": uuid.UUID(int=1),
        "re": Regex("^a", "i"),
        "when": datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
        "nested": [({"t": (1, 2)},)],
    }
    converted = to_jsonable(value)
    assert converted["ts"] == {"t": 1700000000, "i": 3}
    assert converted["i64"] == 2**40
    assert type(converted["i64"]) is int
    assert converted["bin"] == "AAE="
    assert converted["uuid"] == "00000000-0000-0000-0000-000000000001"
    assert converted["re"] == {"$regularExpression": {"pattern": "^a", "options": "i"}}
    assert converted["when"] == "2026-01-01T00:00:00+00:00"
    assert converted["nested"] == [[{"t": [1, 2]}]]
    assert json.loads(json.dumps(converted)) == converted


def test_more_values_become_json():
    oid = ObjectId("65a1b2c3d4e5f60718293a4b")
    plus_two = datetime.timezone(datetime.timedelta(hours=2))

    @dataclasses.dataclass
    class Point:
        x: int
        at: datetime.date

    value = {
        "oid": oid,
        "dec": Decimal128("0.10000000000000000000000000000001"),
        "pydec": decimal.Decimal("1.50"),
        "naive": datetime.datetime(2026, 1, 1, 12, 30),
        "aware": datetime.datetime(2026, 1, 1, 12, 30, tzinfo=plus_two),
        "day": datetime.date(2026, 2, 3),
        "time": datetime.time(4, 5, 6),
        "bytes": b"hi",
        "set": frozenset({7}),
        "point": Point(1, datetime.date(2026, 1, 2)),
        "max": MaxKey(),
        7: "int key",
        "plain": [None, True, 1.5, "s"],
    }
    converted = to_jsonable(value)
    assert converted == {
        "oid": "65a1b2c3d4e5f60718293a4b",
        "dec": "0.10000000000000000000000000000001",
        "pydec": "1.50",
        "naive": "2026-01-01T12:30:00+00:00",
        "aware": "2026-01-01T12:30:00+02:00",
        "day": "2026-02-03",
        "time": "04:05:06",
        "bytes": "aGk=",
        "set": [7],
        "point": {"x": 1, "at": "2026-01-02"},
        "max": {"$maxKey": 1},
        "7": "int key",
        "plain": [None, True, 1.5, "s"],
    }
    assert type(converted["plain"][1]) is bool
    assert json.loads(json.dumps(converted)) == converted
    # the input is left alone
    assert value["oid"] is oid


def test_atlas_link():
    assert atlas_workspace_url("p1", "my ws") == (
        "https://cloud.mongodb.com/v2/p1#/streamProcessing/my%20ws"
    )
    assert (
        atlas_workspace_url("a/b", "w") == "https://cloud.mongodb.com/v2/a%2Fb#/streamProcessing/w"
    )
    assert atlas_workspace_url(None, "w") is None
    assert atlas_workspace_url("p", None) is None
    assert atlas_workspace_url("p", "") is None
    assert atlas_workspace_url("", "w") is None


def test_link_reads_the_url_the_operator_set():
    class Task:
        atlas_ui_url = "https://cloud.mongodb.com/v2/p1#/streamProcessing/ws"

    class Bare:
        pass

    link = AspProcessorLink()
    assert link.name == "Atlas Stream Processing"
    assert link.get_link(Task(), ti_key=None) == Task.atlas_ui_url  # type: ignore[arg-type]
    assert link.get_link(Bare(), ti_key=None) == ""  # type: ignore[arg-type]


def test_version_flags_match_the_installed_airflow():
    import airflow

    installed = tuple(int(x) for x in airflow.__version__.split(".")[:2])
    assert (installed >= (3, 3)) == AIRFLOW_V_3_3_PLUS
    assert (installed >= (3, 2)) == AIRFLOW_V_3_2_PLUS
    assert (installed >= (3, 1)) == AIRFLOW_V_3_1_PLUS
    assert AIRFLOW_V_3_0_PLUS
    # each flag implies the older ones
    flags = [AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_1_PLUS, AIRFLOW_V_3_2_PLUS, AIRFLOW_V_3_3_PLUS]
    assert flags == sorted(flags, reverse=True)
