"""Pipelines to datasets named after the Admin API's registry (``registry_pipeline_lineage``):
Kafka by bootstrap server, Atlas clusters by name and project, HTTPS endpoints by URL, the
workspace's names for the rest and without a registry."""

from __future__ import annotations

from typing import Any

from asp_core.lineage import (
    cluster_namespace,
    https_dataset,
    pipeline_lineage,
    registry_pipeline_lineage,
)

WS = "atlas-stream-abc-x.virginia-usa.a.query.mongodb.net"
ASP = f"atlas-stream-processing://{WS}"
PROJECT = "64f0c0ffee0123456789abcd"
OTHER = "650000000000000000000001"
#: Connection documents as ``GET …/streams/{workspace}/connections`` returns them.
REGISTRY: list[dict[str, Any]] = [
    {
        "name": "kafka1",
        "type": "Kafka",
        "state": "READY",
        "bootstrapServers": "b-1.msk.example.com:9096,b-2.msk.example.com:9096",
        "authentication": {"mechanism": "SCRAM-512", "username": "etl"},
        "security": {"protocol": "SASL_SSL"},
    },
    {"name": "kafka_noport", "type": "Kafka", "bootstrapServers": "broker.example.com"},
    {"name": "atlas", "type": "Cluster", "clusterName": "Cluster0", "state": "READY"},
    {"name": "remote", "type": "Cluster", "clusterName": "Reports", "clusterGroupId": OTHER},
    {
        "name": "api",
        "type": "Https",
        "url": "https://user:pw@api.example.com/v1/?token=abc#frag",
        "headers": {"X-Api-Key": "kept-out"},
    },
    {"name": "api8443", "type": "Https", "url": "https://hooks.example.com:8443"},
    {"name": "sample_stream_solar", "type": "Sample"},
    {"name": "lambda", "type": "AWSLambda", "aws": {"roleArn": "arn:aws:iam::1:role/x"}},
    {"name": "kinesis", "type": "AWSKinesisDataStreams", "aws": {"roleArn": "arn:x"}},
]


def names(datasets):
    return [(d.namespace, d.name) for d in datasets]


def lineage(pipeline, dlq=None, connections=REGISTRY, project_id=PROJECT):
    return registry_pipeline_lineage(
        pipeline, dlq, workspace=WS, connections=connections, project_id=project_id
    )


PIPELINE = [
    {"$source": {"connectionName": "kafka1", "topic": "orders"}},
    {"$lookup": {"from": {"connectionName": "atlas", "db": "ref", "coll": "customers"},
                 "localField": "c", "foreignField": "_id", "as": "customer"}},
    {"$https": {"connectionName": "api", "path": "/score", "method": "POST", "as": "score"}},
    {"$merge": {"into": {"connectionName": "remote", "db": "dw", "coll": "orders"}}},
]  # fmt: skip


def test_kafka_cluster_and_https_connections_get_their_real_names():
    found = lineage(PIPELINE, dlq={"connectionName": "atlas", "db": "ops", "coll": "dlq"})
    assert names(found.inputs) == [
        ("kafka://b-1.msk.example.com:9096", "orders"),
        ("https://api.example.com", "/v1/score"),
        (f"mongodb://Cluster0.{PROJECT}:27017", "ref.customers"),
    ]
    assert [d.role for d in found.inputs] == ["source", "https", "lookup"]
    assert names(found.outputs) == [
        (f"mongodb://Reports.{OTHER}:27017", "dw.orders"),  # the cluster's own project
        (f"mongodb://Cluster0.{PROJECT}:27017", "ops.dlq"),
    ]
    assert all(d.named_by_registry for d in (*found.inputs, *found.outputs))
    # the workspace's names stay known (OpenLineage's symlinks facet)
    assert found.inputs[0].workspace_name == "kafka1/orders"
    assert found.outputs[0].asset_uri == f"mongodb://Reports.{OTHER}:27017/dw/orders"


def test_no_secret_of_a_document_reaches_a_name():
    found = lineage(PIPELINE)
    text = repr(found)
    for secret in ("user", "pw", "token=abc", "frag", "kept-out"):
        assert secret not in text


def test_without_a_registry_every_dataset_has_the_workspace_names():
    found = lineage(PIPELINE, connections=None)
    assert names(found.inputs) == [
        (ASP, "kafka1/orders"),
        (ASP, "api"),
        (ASP, "atlas/ref.customers"),
    ]
    assert names(found.outputs) == [(ASP, "remote/dw.orders")]
    assert not any(d.named_by_registry for d in found.inputs)


def test_other_types_and_unlisted_connections_have_the_workspace_names():
    found = lineage(
        [
            {"$source": {"connectionName": "sample_stream_solar"}},
            {"$externalFunction": {"connectionName": "lambda", "functionName": "f", "as": "r"}},
            {"$emit": {"connectionName": "kinesis", "stream": "events"}},
            {"$emit": {"connectionName": "unlisted", "topic": "t"}},
        ]
    )
    assert names(found.inputs) == [(ASP, "sample_stream_solar"), (ASP, "lambda")]
    assert [d.role for d in found.inputs] == ["source", "function"]
    assert names(found.outputs) == [(ASP, "kinesis/events"), (ASP, "unlisted/t")]


def test_a_last_https_stage_is_an_output_and_a_port_is_kept():
    found = lineage(
        [
            {"$source": {"connectionName": "kafka_noport", "topic": "in"}},
            {"$https": {"connectionName": "api8443", "path": {"$concat": ["/a/", "$id"]}}},
        ]
    )
    assert names(found.inputs) == [("kafka://broker.example.com:9092", "in")]
    assert names(found.outputs) == [("https://hooks.example.com:8443", "/")]
    assert found.outputs[0].role == "https"


def test_a_cluster_without_a_known_project_is_named_by_its_name_alone():
    assert cluster_namespace(REGISTRY[2], None) == "mongodb://Cluster0:27017"
    assert cluster_namespace(REGISTRY[3], None) == f"mongodb://Reports.{OTHER}:27017"
    assert cluster_namespace({"type": "Kafka", "clusterName": "x"}, PROJECT) is None
    assert cluster_namespace({"type": "Cluster"}, PROJECT) is None


def test_https_urls_that_name_no_host_are_not_used():
    assert https_dataset({"type": "Https", "url": "ftp://files.example.com/x"}) is None
    assert https_dataset({"type": "Https", "url": "https://"}) is None
    assert https_dataset({"type": "Https", "url": "https://h.example.com:notaport"}) is None
    assert https_dataset({"type": "Https"}) is None
    assert https_dataset({"type": "Https", "url": "http://[::1]:8080/p/"}, "q") == (
        "http://[::1]:8080",
        "/p/q",
    )
    assert https_dataset({"type": "Https", "url": "https://h.example.com:443"}) == (
        "https://h.example.com",
        "/",
    )


def test_the_wire_registry_keeps_its_names_and_now_sees_endpoint_stages():
    wire = [{"name": "atlas", "type": "atlas", "clusterName": "Cluster0"}]
    found = pipeline_lineage(PIPELINE, workspace=WS, connections=wire)
    assert (ASP, "atlas/ref.customers") in names(found.inputs)  # no cluster naming on the wire
    assert (ASP, "api") in names(found.inputs)


def test_an_expression_as_connection_is_said_not_named():
    found = lineage([{"$https": {"connectionName": "$which", "path": "/x"}}])
    assert not found
    assert found.unnamed == ("https: connectionName '$which'",)
