"""Lineage of stream processors: which datasets a processor reads and writes.

- :mod:`.datasets`: pure: a pipeline (and its dead letter queue) to input and output
  datasets, named after the OpenLineage conventions for Kafka and MongoDB where the
  workspace's connection registry (``listStreamConnections``) gives the servers, else in the
  ``atlas-stream-processing://<workspace>/<connection>`` namespace.
- :mod:`.assets`: the ``atlas-stream-processing`` asset URI scheme (normalizer, factory,
  OpenLineage converter) the provider registers.
- :mod:`.reporting`: the glue: an ``OperatorLineage`` for the OpenLineage provider (imported
  only when it is there) and Airflow assets for hook-level lineage.

The operators' side is :class:`~airflow_provider_asp.operators.lineage.AspLineageMixin`.
Nothing here imports the OpenLineage provider at import time.
"""
