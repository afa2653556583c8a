"""From a processor to Dagster's asset specs: ``DagsterAspTranslator``.

A processor's assets are what it writes: each ``$merge`` collection, each ``$emit`` topic or
collection, and its dead letter queue. What it reads (``$source``, ``$lookup``) are their
upstream dependencies. Default keys: ``[connection, name parts...]``, e.g.
``["cluster0", "shop", "orders"]`` for ``$merge`` into ``shop.orders`` through ``cluster0``,
and ``["kafka_prod", "alerts"]`` for a topic. Subclass and override
:meth:`DagsterAspTranslator.get_asset_key` or :meth:`~DagsterAspTranslator.get_asset_spec`
to change keys, groups or metadata.
"""

import dataclasses
import json
from collections.abc import Sequence

import dagster as dg

from asp_core.lineage import LineageDataset
from dagster_asp.processor import AspProcessor

#: The kind every processor asset carries (Dagster shows it as a tag).
KIND = "atlas-stream-processing"


@dataclasses.dataclass(frozen=True)
class AspDatasetProps:
    """One dataset of a processor: the processor and the dataset (role, connection, name)."""

    processor: AspProcessor
    dataset: LineageDataset


class DagsterAspTranslator:
    """Names a processor's datasets as Dagster assets (subclass to change the defaults)."""

    def get_asset_key(self, dataset: LineageDataset) -> dg.AssetKey:
        """``[connection, *local name split on "."]`` (a topic, ``db.coll``; none for the
        connection itself)."""
        local = dataset.connection if dataset.local_name is None else dataset.local_name
        parts = [part for part in local.split(".") if part]
        if parts == [dataset.connection]:
            parts = []
        return dg.AssetKey([dataset.connection, *parts])

    def get_group_name(self, processor: AspProcessor) -> str:
        """One group per processor (Dagster group names allow letters, digits, ``_``)."""
        return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in processor.name)

    def get_asset_spec(self, props: AspDatasetProps) -> dg.AssetSpec:
        """The spec of one output dataset: key, upstream inputs, group, kinds, metadata."""
        processor, dataset = props.processor, props.dataset
        lineage = processor.lineage()
        return dg.AssetSpec(
            key=self.get_asset_key(dataset),
            deps=[self.get_asset_key(source) for source in lineage.inputs],
            group_name=self.get_group_name(processor),
            kinds={KIND, *_dataset_kinds(dataset)},
            description=f"Written by the stream processor {processor.name!r} ({dataset.role}).",
            metadata={
                "asp/processor": processor.name,
                "asp/role": dataset.role,
                "asp/connection": dataset.connection,
                "asp/pipeline": dg.MetadataValue.json(json.loads(json.dumps(processor.pipeline))),
            },
        )

    def get_asset_specs(self, processor: AspProcessor) -> Sequence[dg.AssetSpec]:
        """One spec per dataset the processor writes."""
        return [
            self.get_asset_spec(AspDatasetProps(processor, dataset))
            for dataset in processor.lineage().outputs
        ]


def _dataset_kinds(dataset: LineageDataset) -> set[str]:
    if dataset.namespace.startswith("kafka://"):
        return {"kafka"}
    if dataset.role in ("merge", "dlq") or dataset.namespace.startswith("mongodb://"):
        return {"mongodb"}
    return set()
