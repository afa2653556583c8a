"""Atlas Stream Processing on released pymongo: the API of pymongo's draft
``stream_processing`` module, sync and async, plus the commands that draft defers.

>>> with StreamProcessingClient(uri, tlsCAFile=ca) as client:        # doctest: +SKIP
...     sps = client.stream_processors()
...     sps.create("demo", pipeline=[...])
...     sps.get("demo").start()

Layout: :mod:`.protocol` builds every command and parses every reply (pure);
:mod:`.options` holds the option/result types; :mod:`.sampling` is the sample cursor's
state machine (pure); :mod:`.config` applies the connection rules; :mod:`.client` and
:mod:`.asynchronous` are the sync and async executors.
"""

from airflow_provider_asp.stream_processing.asynchronous import (
    AsyncSampleCursor,
    AsyncStreamProcessingClient,
    AsyncStreamProcessor,
    AsyncStreamProcessors,
)
from airflow_provider_asp.stream_processing.client import (
    SampleCursor,
    StreamProcessingClient,
    StreamProcessor,
    StreamProcessors,
)
from airflow_provider_asp.stream_processing.options import (
    VALID_TIERS,
    CreateStreamProcessorOptions,
    GetStreamProcessorSamplesOptions,
    GetStreamProcessorSamplesResult,
    GetStreamProcessorStatsOptions,
    StartStreamProcessorOptions,
    StreamProcessorInfo,
)
from airflow_provider_asp.stream_processing.sampling import Backoff, SampleCursorTimeout

__all__ = [
    "VALID_TIERS",
    "AsyncSampleCursor",
    "AsyncStreamProcessingClient",
    "AsyncStreamProcessor",
    "AsyncStreamProcessors",
    "Backoff",
    "CreateStreamProcessorOptions",
    "GetStreamProcessorSamplesOptions",
    "GetStreamProcessorSamplesResult",
    "GetStreamProcessorStatsOptions",
    "SampleCursor",
    "SampleCursorTimeout",
    "StartStreamProcessorOptions",
    "StreamProcessingClient",
    "StreamProcessor",
    "StreamProcessorInfo",
    "StreamProcessors",
]
