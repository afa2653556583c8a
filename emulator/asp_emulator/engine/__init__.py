"""The emulator's processing engine: runs a stream processor's pipeline while it is STARTED.

Queries and aggregation expressions are evaluated by mongomock; ``$jsonSchema`` by
``jsonschema``; BSON sizes by ``bson``.
"""

from __future__ import annotations

from asp_emulator.engine.compile import Pipeline, compile_pipeline
from asp_emulator.engine.connections import SOLAR, TEST_LOG, Connections
from asp_emulator.engine.errors import PipelineError, ProcessorFailure
from asp_emulator.engine.runner import ProcessorEngine

__all__ = [
    "SOLAR",
    "TEST_LOG",
    "Connections",
    "Pipeline",
    "PipelineError",
    "ProcessorEngine",
    "ProcessorFailure",
    "compile_pipeline",
]
