"""Atlas Stream Processing on released pymongo: the API of pymongo's draft
``stream_processing`` module, sync and async, plus the commands that draft defers.

>>> with StreamProcessingClient(uri, tlsCAFile=ca) as client:        # doctest: +SKIP
...     sps = client.stream_processors()
...     sps.create("demo", pipeline=[...])
...     sps.get("demo").start()

Bounding calls: every call of both clients obeys pymongo's client-side operation timeout
(CSOT). Wrap calls in ``pymongo.timeout(seconds)`` (one deadline for the whole block, in
sync and async code alike), or give the client ``timeoutMS`` (a bound per call)::

    with pymongo.timeout(5):
        info = sps.get_info("demo")       # or: await sps.get_info("demo")

On expiry pymongo raises a :class:`~pymongo.errors.PyMongoError` whose ``timeout`` is True
(``NetworkTimeout``, ``ExecutionTimeout``, ``ServerSelectionTimeoutError``); a timed-out read
is not retried. A sample cursor's ``timeout`` (and ``to_list``'s) bounds each command it
sends as well: past it, iteration raises :class:`SampleCursorTimeout` (also ``timeout ==
True``, chained to pymongo's error) and ``to_list`` returns what it has.

Layout: :mod:`.protocol` builds every command and parses every reply (pure);
:mod:`.options` holds the option/result types; :mod:`.sampling` is the sample cursor's
state machine (pure); :mod:`.timeouts` bounds a cursor's commands with CSOT; :mod:`.config`
applies the connection rules. :mod:`.asynchronous` is the asyncio client, written by hand;
:mod:`.synchronous`, the synchronous one, is generated from it by ``tools/synchro.py``
(``make synchro``; ``make synchro-check`` fails when it is out of date).
"""

from asp_core.stream_processing.asynchronous import (
    AsyncSampleCursor,
    AsyncStreamProcessingClient,
    AsyncStreamProcessor,
    AsyncStreamProcessors,
)
from asp_core.stream_processing.options import (
    VALID_TIERS,
    CreateStreamProcessorOptions,
    GetStreamProcessorSamplesOptions,
    GetStreamProcessorSamplesResult,
    GetStreamProcessorStatsOptions,
    StartStreamProcessorOptions,
    StreamProcessorInfo,
)
from asp_core.stream_processing.sampling import Backoff, SampleCursorTimeout
from asp_core.stream_processing.synchronous import (
    SampleCursor,
    StreamProcessingClient,
    StreamProcessor,
    StreamProcessors,
)

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
