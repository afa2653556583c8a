"""Pipelines to datasets, without a server: sources, sinks, the DLQ, the registry's servers."""

from __future__ import annotations

import pytest

from asp_core.lineage import (
    LineageDataset,
    kafka_server,
    mongodb_server,
    pipeline_lineage,
    workspace_of,
)

WS = "atlas-stream-abc-x.virginia-usa.a.query.mongodb.net"
REGISTRY = [
    {"name": "kafka1", "type": "kafka", "bootstrapServers": "broker1:9093,broker2:9093"},
    {"name": "cluster0", "type": "atlas", "clusterName": "Cluster0"},
    {
        "name": "cluster1",
        "type": "atlas",
        "connectionString": "mongodb://user:pw@db1.example.com,db2.example.com:27018/?tls=true",
    },
    {"name": "sample_stream_solar", "type": "inmemory"},
]


def names(datasets):
    return [(d.namespace, d.name) for d in datasets]


#: The workspace's namespace: datasets the registry does not locate are named in it.
ASP = f"atlas-stream-processing://{WS}"


def lineage(pipeline, dlq=None, connections=REGISTRY):
    return pipeline_lineage(pipeline, dlq, workspace=WS, connections=connections)


def test_kafka_topics_are_named_after_the_first_bootstrap_server():
    found = lineage(
        [
            {"$source": {"connectionName": "kafka1", "topic": ["orders", "refunds"]}},
            {"$emit": {"connectionName": "kafka1", "topic": "enriched"}},
        ]
    )
    assert names(found.inputs) == [
        ("kafka://broker1:9093", "orders"),
        ("kafka://broker1:9093", "refunds"),
    ]
    assert names(found.outputs) == [("kafka://broker1:9093", "enriched")]
    assert found.inputs[0].asset_uri == "kafka://broker1:9093/orders"
    assert found.inputs[0].role == "source"


def test_a_cluster_with_a_connection_string_gets_mongodb_names():
    found = lineage(
        [
            {"$source": {"connectionName": "cluster1", "db": "shop", "coll": "orders"}},
            {"$merge": {"into": {"connectionName": "cluster1", "db": "dw", "coll": "facts.daily"}}},
        ]
    )
    assert names(found.inputs) == [("mongodb://db1.example.com:27017", "shop.orders")]
    assert names(found.outputs) == [("mongodb://db1.example.com:27017", "dw.facts.daily")]
    assert found.outputs[0].asset_uri == "mongodb://db1.example.com:27017/dw/facts.daily"
    assert "pw" not in repr(found)


def test_what_the_registry_does_not_locate_falls_back_to_the_workspace_namespace():
    found = lineage(
        [
            {"$source": {"connectionName": "sample_stream_solar"}},
            {"$lookup": {"from": {"connectionName": "cluster0", "db": "ref", "coll": "devices"},
                         "localField": "device_id", "foreignField": "_id", "as": "device"}},
            {"$merge": {"into": {"connectionName": "cluster0", "db": "solar", "coll": "readings"}}},
        ],
        dlq={"connectionName": "cluster0", "db": "solar", "coll": "dlq"},
    )  # fmt: skip
    assert names(found.inputs) == [(ASP, "sample_stream_solar"), (ASP, "cluster0/ref.devices")]
    assert [d.role for d in found.inputs] == ["source", "lookup"]
    assert names(found.outputs) == [(ASP, "cluster0/solar.readings"), (ASP, "cluster0/solar.dlq")]
    assert [d.role for d in found.outputs] == ["merge", "dlq"]
    assert found.outputs[1].asset_uri == f"{ASP}/cluster0/solar.dlq"
    assert found.inputs[0].asset_uri == f"{ASP}/sample_stream_solar"


def test_inline_documents_are_no_dataset_and_the_test_log_is_one():
    found = lineage(
        [{"$source": {"documents": [{"a": 1}]}}, {"$emit": {"connectionName": "__testLog"}}]
    )
    assert found.inputs == ()
    assert names(found.outputs) == [(ASP, "__testLog")]
    assert found.outputs[0].local_name is None
    assert found  # something to report


def test_an_unknown_connection_is_named_in_the_workspace_namespace():
    found = lineage([{"$source": {"connectionName": "kafkaX", "topic": "t"}}], connections=[])
    assert names(found.inputs) == [(ASP, "kafkaX/t")]
    assert found.inputs[0].asset_uri == f"{ASP}/kafkaX/t"


def test_targets_chosen_per_document_are_left_out_and_said():
    found = lineage(
        [
            {"$source": {"connectionName": "kafka1", "topic": "in"}},
            {"$emit": {"connectionName": "kafka1", "topic": "$region"}},
            {"$merge": {"into": {"connectionName": "cluster0", "db": "d",
                                 "coll": {"$concat": ["a", "$b"]}}}},
        ]
    )  # fmt: skip
    assert found.outputs == ()
    assert len(found.unnamed) == 2


def test_windows_and_sub_pipelines_are_searched_for_lookups():
    found = lineage(
        [
            {"$source": {"connectionName": "kafka1", "topic": "in"}},
            {"$tumblingWindow": {"interval": {"size": 1, "unit": "minute"}, "pipeline": [
                {"$lookup": {"from": {"connectionName": "cluster0", "db": "r", "coll": "c"},
                             "as": "x"}},
                {"$group": {"_id": "$k"}},
            ]}},
            {"$emit": {"connectionName": "kafka1", "topic": "out"}},
        ]
    )  # fmt: skip
    assert names(found.inputs) == [("kafka://broker1:9093", "in"), (ASP, "cluster0/r.c")]


def test_a_database_change_stream_and_duplicates():
    found = lineage(
        [
            {"$source": {"connectionName": "cluster0", "db": "shop"}},
            {"$emit": {"connectionName": "kafka1", "topic": "out"}},
            {"$emit": {"connectionName": "kafka1", "topic": "out"}},
        ]
    )
    assert names(found.inputs) == [(ASP, "cluster0/shop")]
    assert len(found.outputs) == 1


@pytest.mark.parametrize(
    ("entry", "server"),
    [
        ({"bootstrapServers": "b:9092"}, "b:9092"),
        ({"bootstrapServers": " b , c:1"}, "b:9092"),
        ({"bootstrapServers": ["b:1", "c:2"]}, "b:1"),
        ({"bootstrapServers": ""}, None),
        ({}, None),
    ],
)
def test_kafka_server(entry, server):
    assert kafka_server(entry) == server


@pytest.mark.parametrize(
    ("text", "server"),
    [
        ("mongodb://h", "h:27017"),
        ("mongodb://u:p@h:1,i:2/db?x=1", "h:1"),
        ("mongodb+srv://cluster0.abc.mongodb.net", None),
        (None, None),
    ],
)
def test_mongodb_server(text, server):
    assert mongodb_server({"connectionString": text}) == server


def test_workspace_names_leave_out_the_default_port():
    assert workspace_of("h", 27017) == "h"
    assert workspace_of("127.0.0.1", 40001) == "127.0.0.1:40001"


def test_asset_uris_percent_encode_names():
    dataset = LineageDataset(ASP, "c d/a/b", "c d", "emit", WS, "a/b")
    assert dataset.asset_uri == f"{ASP}/c%20d/a%2Fb"
    alone = LineageDataset(ASP, "c d", "c d", "source", WS)
    assert alone.asset_uri == f"{ASP}/c%20d"


def test_the_connection_is_named_once_and_the_port_kept():
    found = pipeline_lineage(
        [{"$source": {"connectionName": "sample_stream_solar"}},
         {"$emit": {"connectionName": "__testLog"}}],
        workspace=workspace_of("127.0.0.1", 40001),
    )  # fmt: skip
    assert names(found.inputs) == [
        ("atlas-stream-processing://127.0.0.1:40001", "sample_stream_solar")
    ]
    assert names(found.outputs) == [("atlas-stream-processing://127.0.0.1:40001", "__testLog")]


def test_a_topic_named_like_its_connection_is_not_the_connection():
    found = lineage(
        [{"$source": {"connectionName": "orders"}},
         {"$emit": {"connectionName": "orders", "topic": "orders"}}],
        connections=[],
    )  # fmt: skip
    assert names(found.inputs) == [(ASP, "orders")]
    assert names(found.outputs) == [(ASP, "orders/orders")]


def test_registry_names_keep_their_name_in_the_workspace():
    (dataset,) = lineage([{"$source": {"connectionName": "kafka1", "topic": "t"}}]).inputs
    assert dataset.named_by_registry
    assert (dataset.workspace_namespace, dataset.workspace_name) == (ASP, "kafka1/t")
