"""Event triggers: DAGs that start when a stream processor does something.

Airflow 3 schedules a DAG on an asset; an :class:`~airflow.sdk.AssetWatcher` on that asset runs
an event trigger in the triggerer for as long as the DAG is unpaused, and every event the
trigger yields becomes an asset event. Three triggers watch a processor:

- :class:`AspProcessorOutputEventTrigger`: its output, read through the sample protocol;
  documents that satisfy ``match`` and ``check_fn`` go out in batches.
- :class:`AspProcessorStateEventTrigger`: its entries into ``states`` (FAILED, say), once
  per transition.
- :class:`AspProcessorStatsEventTrigger`: a counter of its stats crossing a threshold or
  growing by a step.

Semantics:

- They never end on their own: a missing, stopped, dropped or failed processor, a network
  error, a retryable code or a refused login is logged and watched through, with a growing
  pause between tries (1 s doubling to a minute), because Airflow re-creates a trigger that
  returns or raises at once, without any pause.
- A sample is a tap, not a replay: documents the processor emits while no cursor is open
  (the triggerer restarting, the trigger's DAG paused, the processor stopped) are not seen,
  and a busy stream read more slowly than it flows loses its oldest unread documents.
- Events are at least once. What a trigger must remember across triggerer restarts (the last
  transition told, counter marks, digests of the last 1,000 documents sent) goes to the
  watched assets' state store (Airflow 3.3+; the documents' digests at most every 2 s), so
  a restart does not tell a failure again nor resend documents a new cursor hands out again;
  a crash right after an event may still repeat it. Consumers should be idempotent.
- Kwargs are plain JSON, the same on every parse (their hash identifies the watcher); bad
  arguments are refused when the trigger is built, that is when the DAG file is parsed.

Triggers of one connection share one pooled client (:meth:`AspHook.alease_shared_conn`).
What the triggers decide, and what their events' payloads hold, is pure code in
:mod:`asp_core.event_rules`, which other orchestrators share. Modules: :mod:`.watcher` (what
the triggers share), :mod:`.output`, :mod:`.state`, :mod:`.stats` (one trigger each), and
:mod:`airflow_provider_asp.triggers.state_store` (what they remember).

Importing this module imports neither pymongo nor the hook.
"""

from airflow_provider_asp.triggers.events.output import AspProcessorOutputEventTrigger
from airflow_provider_asp.triggers.events.state import AspProcessorStateEventTrigger
from airflow_provider_asp.triggers.events.stats import AspProcessorStatsEventTrigger
from airflow_provider_asp.triggers.events.watcher import AspEventTrigger, AspWatcherArgumentError

__all__ = [
    "AspEventTrigger",
    "AspProcessorOutputEventTrigger",
    "AspProcessorStateEventTrigger",
    "AspProcessorStatsEventTrigger",
    "AspWatcherArgumentError",
]
