"""Lineage of stream processors: which datasets a processor reads and writes.

- :mod:`asp_core.lineage` (pure): a pipeline (and its dead letter queue) to input and output
  datasets, named after the OpenLineage conventions for Kafka and MongoDB where the
  workspace's connection registry (``listStreamConnections``) gives the servers, else in the
  ``atlas-stream-processing://<workspace>`` namespace as ``<connection>[/<name>]``.
- :mod:`.assets`: the ``atlas-stream-processing`` asset URI scheme (normalizer, factory,
  OpenLineage converter) the provider registers, and a pipeline's assets to declare.
- :mod:`.reporting`: the glue: an ``OperatorLineage`` for the OpenLineage provider (imported
  only when it is there).

The operators' side is :class:`~airflow_provider_asp.operators.lineage.AspLineageMixin`.
Nothing here imports the OpenLineage provider at import time.
"""
