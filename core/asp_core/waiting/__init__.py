"""How a wait for a stream processor is judged, written once for operators, sensors and triggers.

- :mod:`.states`: the state vocabulary (CREATED, STARTED, STOPPED, FAILED and what each means).
- :mod:`.conditions`: what a wait waits for (state, sample, stats), each naming the read it
  needs, judged by pure functions.
- :mod:`.verdict`: one look's result (success, pending, failure with a reason), the trigger event
  it travels as, and the exception it becomes in the task.
- :mod:`.matching`: MongoDB queries on sampled documents and ``check_fn`` callables.
- :mod:`.asynchronous`: one look and the bounded wait on the asyncio client (triggers);
  :mod:`.synchronous` is generated from it (operators' waits in the worker, sensors' pokes).

A transient error (a network error, a retryable code or label) costs one look everywhere; a
FAILED processor ends the wait at once; the deadline is absolute and bounds every command
(pymongo's client-side operation timeout). Nothing here imports pymongo at import time but the
two look modules, which only tasks and triggers import, when they run.
"""
