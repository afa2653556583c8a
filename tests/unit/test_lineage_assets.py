"""The ``atlas-stream-processing`` asset scheme and a pipeline's assets, without a server."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from airflow_provider_asp.lineage.assets import (
    asset_uri,
    create_asset,
    pipeline_assets,
    sanitize_uri,
)

WS = "atlas-stream-abc-x.virginia-usa.a.query.mongodb.net"


def test_uris_name_the_workspace_the_connection_and_the_dataset():
    assert (
        asset_uri(WS, "cluster0", "db.coll") == f"atlas-stream-processing://{WS}/cluster0/db.coll"
    )
    asset = create_asset(workspace=WS, connection="k 1", name="a/b")
    assert asset.uri == f"atlas-stream-processing://{WS}/k%201/a%2Fb"
    assert create_asset(workspace=WS, connection="sample").uri == (
        f"atlas-stream-processing://{WS}/sample"
    )


@pytest.mark.parametrize(
    "uri",
    [
        "atlas-stream-processing:///c/n",
        "atlas-stream-processing://h",
        "atlas-stream-processing://h/",
        "atlas-stream-processing://h/c/n/extra",
        "atlas-stream-processing://h//n",
    ],
)
def test_the_normalizer_refuses_incomplete_uris(uri):
    with pytest.raises(ValueError, match="atlas-stream-processing URI"):
        sanitize_uri(urlsplit(uri))


def test_a_pipeline_gives_inlets_and_outlets():
    inlets, outlets = pipeline_assets(
        [
            {"$source": {"connectionName": "kafka1", "topic": "orders"}},
            {"$merge": {"into": {"connectionName": "cluster0", "db": "shop", "coll": "orders"}}},
        ],
        {"connectionName": "cluster0", "db": "shop", "coll": "dlq"},
        workspace=WS,
        connections=[{"name": "kafka1", "type": "kafka", "bootstrapServers": "b:9092"}],
    )
    assert [a.uri for a in inlets] == ["kafka://b:9092/orders"]
    assert [a.uri for a in outlets] == [
        f"atlas-stream-processing://{WS}/cluster0/shop.orders",
        f"atlas-stream-processing://{WS}/cluster0/shop.dlq",
    ]


def test_an_asset_converts_back_to_its_dataset():
    from airflow.sdk import Asset

    from airflow_provider_asp.lineage.assets import convert_asset_to_openlineage
    from asp_core.lineage import pipeline_lineage

    found = pipeline_lineage(
        [{"$source": {"connectionName": "sample"}},
         {"$merge": {"into": {"connectionName": "c 0", "db": "shop", "coll": "a/b.c"}}},
         {"$emit": {"connectionName": "k", "topic": "t.1"}}],
        workspace="127.0.0.1:40001",
    )  # fmt: skip
    for dataset in (*found.inputs, *found.outputs):
        converted = convert_asset_to_openlineage(Asset(uri=dataset.asset_uri))
        assert (converted.namespace, converted.name) == (dataset.namespace, dataset.name)
