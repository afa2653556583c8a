"""Window operators as pure functions: durations, assignment, inner pipelines, state."""

from __future__ import annotations

import datetime

import bson
import pytest
from asp_emulator.engine.errors import DocumentError
from asp_emulator.engine.windows import (
    DEFAULT_ALLOWED_LATENESS_MS,
    WindowOperator,
    WindowState,
    parse_duration,
)

GROUP = {"$group": {"_id": "$k", "total": {"$sum": "$v"}}}


def tumbling(**extra: object) -> WindowOperator:
    spec = {"interval": {"size": 10, "unit": "second"}, "pipeline": [GROUP], **extra}
    return WindowOperator(1, "$tumblingWindow", spec)


def hopping(**extra: object) -> WindowOperator:
    spec = {
        "interval": {"size": 10, "unit": "second"},
        "hopSize": {"size": 5, "unit": "second"},
        "pipeline": [GROUP],
        **extra,
    }
    return WindowOperator(1, "$hoppingWindow", spec)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"size": 5, "unit": "ms"}, 5),
        ({"size": 2, "unit": "second"}, 2_000),
        ({"size": 3, "unit": "minute"}, 180_000),
        ({"size": 1, "unit": "hour"}, 3_600_000),
        ({"size": 1, "unit": "day"}, 86_400_000),
    ],
)
def test_parse_duration(value: dict, expected: int) -> None:
    assert parse_duration(value, "x") == expected


def test_parse_duration_zero_only_when_allowed() -> None:
    assert parse_duration(0, "x", allow_zero=True) == 0
    assert parse_duration({"size": 0, "unit": "ms"}, "x", allow_zero=True) == 0
    with pytest.raises(ValueError, match="must be a document"):
        parse_duration(0, "x")
    with pytest.raises(ValueError, match="positive"):
        parse_duration({"size": 0, "unit": "ms"}, "x")
    with pytest.raises(ValueError, match=r"x\.size must be an integer"):
        parse_duration({"size": True, "unit": "ms"}, "x")


def test_tumbling_assignment_is_aligned_to_epoch_multiples() -> None:
    op = tumbling()
    assert op.starts(0) == [0]
    assert op.starts(9_999) == [0]
    assert op.starts(10_000) == [10_000]
    assert op.starts(1_723_498_861_788) == [1_723_498_860_000]
    assert op.lateness_ms == DEFAULT_ALLOWED_LATENESS_MS
    assert op.close_time(0) == 10_000 + DEFAULT_ALLOWED_LATENESS_MS


def test_hopping_assignment_covers_every_window_containing_the_time() -> None:
    op = hopping(allowedLateness=0)
    assert op.starts(12_000) == [5_000, 10_000]
    assert op.starts(10_000) == [5_000, 10_000]
    assert op.starts(4_999) == [-5_000, 0]
    assert op.close_time(5_000) == 15_000


def test_offset_shifts_boundaries() -> None:
    op = tumbling(offset={"offsetFromUtc": 2, "unit": "second"})
    assert op.starts(1_000) == [-8_000]
    assert op.starts(2_000) == [2_000]


def test_lateness_and_idle_timeout_parse() -> None:
    op = tumbling(
        allowedLateness={"size": 2, "unit": "second"}, idleTimeout={"size": 1, "unit": "minute"}
    )
    assert op.lateness_ms == 2_000
    assert op.idle_timeout_ms == 60_000
    assert tumbling(allowedLateness=0).lateness_ms == 0


def test_same_shape_compares_type_and_sizes_only() -> None:
    other_pipeline = WindowOperator(
        3,
        "$tumblingWindow",
        {"interval": {"size": 10, "unit": "second"}, "pipeline": [{"$group": {"_id": None}}]},
    )
    assert tumbling().same_shape(other_pipeline)
    assert not tumbling().same_shape(hopping())
    assert not tumbling().same_shape(
        WindowOperator(
            1, "$tumblingWindow", {"interval": {"size": 5, "unit": "second"}, "pipeline": [GROUP]}
        )
    )


def _encoded(*docs: dict) -> list[bytes]:
    return [bson.encode(d) for d in docs]


def test_compute_runs_the_inner_pipeline_and_adds_stream_meta() -> None:
    op = WindowOperator(
        1,
        "$tumblingWindow",
        {
            "interval": {"size": 10, "unit": "second"},
            "pipeline": [GROUP, {"$sort": {"_id": 1}}],
        },
    )
    out = op.compute(
        10_000, _encoded({"k": "a", "v": 1}, {"k": "b", "v": 5}, {"k": "a", "v": 2}), "kafka"
    )
    window = {
        "start": datetime.datetime(1970, 1, 1, 0, 0, 10),
        "end": datetime.datetime(1970, 1, 1, 0, 0, 20),
    }
    assert out == [
        {"_id": "a", "total": 3, "_stream_meta": {"source": {"type": "kafka"}, "window": window}},
        {"_id": "b", "total": 5, "_stream_meta": {"source": {"type": "kafka"}, "window": window}},
    ]


def test_median_percentile_count_and_meta_in_group() -> None:
    op = WindowOperator(
        1,
        "$tumblingWindow",
        {
            "interval": {"size": 1, "unit": "second"},
            "pipeline": [
                {
                    "$group": {
                        "_id": {"$meta": "stream.window.start"},
                        "n": {"$count": {}},
                        "median": {"$median": {"input": "$v", "method": "approximate"}},
                        "p": {
                            "$percentile": {"input": "$v", "p": [0.25, 1], "method": "approximate"}
                        },
                        "first": {"$first": "$v"},
                    }
                },
                {
                    "$project": {
                        "n": 1,
                        "median": 1,
                        "p": 1,
                        "first": 1,
                        "half": {"$divide": ["$n", 2]},
                    }
                },
            ],
        },
    )
    values = [7, 1, 4, 10, 2, "not a number"]
    (out,) = op.compute(0, _encoded(*({"v": v} for v in values)), "inmemory")
    assert out["_id"] == datetime.datetime(1970, 1, 1)
    assert out["n"] == 6
    assert out["median"] == 4  # nearest rank of 1, 2, 4, 7, 10
    assert out["p"] == [2, 10]
    assert out["first"] == 7
    assert out["half"] == 3


def test_compute_errors_become_document_errors() -> None:
    op = WindowOperator(
        1,
        "$tumblingWindow",
        {
            "interval": {"size": 1, "unit": "second"},
            "pipeline": [GROUP, {"$addFields": {"x": {"$divide": ["$total", 0]}}}],
        },
    )
    with pytest.raises(DocumentError, match=r"\$tumblingWindow pipeline failed"):
        op.compute(0, _encoded({"k": 1, "v": 1}), "inmemory")


def test_compute_works_on_copies_of_the_buffered_documents() -> None:
    op = WindowOperator(
        1,
        "$tumblingWindow",
        {
            "interval": {"size": 1, "unit": "second"},
            "pipeline": [{"$addFields": {"obs.x": 1}}, {"$group": {"_id": "$obs"}}],
        },
    )
    raw = _encoded({"obs": {"w": 1}})
    assert op.compute(0, raw, "inmemory")[0]["_id"] == {"w": 1, "x": 1}
    assert bson.decode(raw[0]) == {"obs": {"w": 1}}


def test_window_state_buffers_and_pops_due_windows_in_order() -> None:
    op = tumbling(allowedLateness=0)
    state = WindowState()
    a, b = bson.encode({"a": 1}), bson.encode({"b": 22})
    state.add([20_000], a, 1)
    state.add([0], b, 2)
    state.add([0], a, 5)
    assert state.size == 2 * len(a) + len(b)
    assert state.pop_due(op, 9_999) == []
    due = state.pop_due(op, 30_000)
    assert [start for start, _ in due] == [0, 20_000]
    assert due[0][1].docs == [b, a]
    assert due[0][1].last_ingest_us == 5
    assert state.size == 0
    assert state.open == {}


def test_idle_target_is_latest_close_time_already_past() -> None:
    op = tumbling(allowedLateness=0)
    state = WindowState()
    state.add([0, 10_000, 50_000], bson.encode({}), 0)
    assert state.idle_target(op, 25_000) == 20_000
    assert state.idle_target(op, 5_000) is None
