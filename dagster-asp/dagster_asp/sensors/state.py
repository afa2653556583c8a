"""The state sensor: a run each time a processor enters a watched state (FAILED by default).

What a transition is, and what its event holds, are the core's rules
(:class:`asp_core.event_rules.TransitionWatch`, :func:`asp_core.event_rules.state_payload`),
the same as the Airflow state event trigger's.
"""

from collections.abc import Iterable, Sequence
from typing import Any, Optional

import dagster as dg

from asp_core import arguments
from asp_core import event_rules as rules
from asp_core.errors import AspInputError
from asp_core.stream_processing import StreamProcessingClient, StreamProcessorInfo
from asp_core.waiting import states as state_names
from dagster_asp.resource import AspWorkspace
from dagster_asp.sensors import common, cursors

KIND = "asp_state"


def build_asp_state_sensor(
    *,
    target: Any = None,
    job_name: Optional[str] = None,  # noqa: UP045
    processor_names: Optional[Iterable[common.ProcessorRef]] = None,  # noqa: UP045
    states: Sequence[str] = ("FAILED",),
    name: str = "asp_state_sensor",
    resource_key: str = "asp",
    minimum_interval_seconds: int = 30,
    budget_seconds: float = common.DEFAULT_BUDGET_SECONDS,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
    description: Optional[str] = None,  # noqa: UP045
) -> dg.SensorDefinition:
    """A sensor that requests one run of ``target`` per entry of a processor into one of
    ``states``.

    Each tick reads the processors in one ``listStreamProcessors`` (filtered on
    ``processor_names``; every processor of the workspace when None); a new failure is then
    read alone once, for its error code. A transition is known by processor, state and
    ``lastStateChange``: its ``run_key`` is ``asp-state:<processor>:<STATE>@<lastStateChange>``,
    so another tick, or another daemon, never launches it twice. A processor found already in
    a watched state on the very first tick is an event too (as the Airflow state event
    trigger: nobody was told yet). Run tags: ``asp/processor``, ``asp/state``,
    ``asp/last_state_change``, ``asp/error_msg``, ``asp/error_code``, ``asp/error_retryable``
    (strings; '' when unknown).

    The cursor (JSON) keeps, per processor, what the core's watch needs to go on: the last
    transition told, the last state seen. A tick stops after ``budget_seconds`` and the
    processors it did not reach wait for the next tick.

    Give ``target`` (a job, assets or a selection) or ``job_name`` (a job defined elsewhere in
    the code location, as a YAML component names it), not both.
    """
    if (target is None) == (job_name is None):
        raise AspInputError("Give exactly one of target and job_name.")
    aimed: dict[str, Any] = {"target": target} if job_name is None else {"job_name": job_name}
    watched = sorted(arguments.states(states, "states"))
    names = common.processor_names(processor_names)
    budget = common.budget_seconds(budget_seconds)

    @dg.sensor(
        name=name,
        **aimed,
        minimum_interval_seconds=minimum_interval_seconds,
        required_resource_keys={resource_key},
        default_status=default_status,
        description=description
        or f"Runs when a stream processor enters {' or '.join(watched)} (Atlas Stream Processing).",
    )
    def _state_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        resource = common.workspace(context, resource_key)
        return state_tick(context, resource, watched, names, budget)

    return _state_sensor


def state_tick(
    context: dg.SensorEvaluationContext,
    resource: AspWorkspace,
    watched: Sequence[str],
    names: Optional[Sequence[str]],  # noqa: UP045
    budget_seconds: float,
) -> dg.SensorResult:
    """One tick: read, look at each processor with its watch, request a run per transition."""
    tick = common.start_tick(context, resource, KIND, names, budget_seconds)
    budget, saved, memory, listed = tick.budget, tick.saved, tick.memory, tick.listed
    looked_at = sorted(set(listed) | set(names or ()))
    order = _rotated(looked_at, saved.get("resume"))
    # Processors gone (or no longer watched) are forgotten; those not reached are kept.
    kept = {n: memory[n] for n in looked_at if n in memory}
    requests: list[dg.RunRequest] = []
    resume = None
    for position, processor in enumerate(order):
        if common.out_of_time(budget):
            resume = processor
            context.log.info(
                "Tick budget of %.0f s spent: %d processor(s) wait for the next tick.",
                budget_seconds,
                len(order) - position,
            )
            break
        entry = memory.get(processor)
        watch = rules.TransitionWatch.resumed(watched, entry if isinstance(entry, dict) else {})
        info = listed.get(processor)
        transition = watch.look_at(info)
        told = entry.get("told", 0) if isinstance(entry, dict) else 0
        told = told if isinstance(told, int) else 0
        if transition is not None and info is not None:
            told += 1
            full = _described(resource.get_client(), info, transition)
            requests.append(_run_request(resource, processor, transition, full, told))
            context.log.info("Stream processor %r entered %s.", processor, transition.state)
        kept[processor] = {**watch.continuation(), "told": told}
    data: dict[str, Any] = {"p": kept}
    if resume is not None:
        data["resume"] = resume
    return dg.SensorResult(run_requests=requests, cursor=cursors.dump(KIND, data))


def _rotated(names: list[str], resume: Any) -> list[str]:
    """``names`` starting at ``resume`` (where the last tick ran out of time), if any."""
    if not isinstance(resume, str):
        return names
    start = next((i for i, n in enumerate(names) if n >= resume), 0)
    return names[start:] + names[:start]


def _described(
    client: StreamProcessingClient, info: StreamProcessorInfo, transition: rules.Transition
) -> StreamProcessorInfo:
    """The full description of a failure (a list item has no error code), when it still
    is the transition seen; else the list item."""
    if not state_names.is_failed(transition.state) or info.error_code is not None:
        return info
    try:
        full = client.stream_processors().get_info(info.name)
    except Exception:
        return info
    same = full.state == info.state and full.last_state_change == info.last_state_change
    return full if same else info


def run_key(processor: str, transition: rules.Transition, told: int) -> str:
    """``asp-state:<processor>:<STATE>@<lastStateChange>``; a service that gives no
    ``lastStateChange`` (``@?``) gets the number of transitions told appended."""
    key = f"asp-state:{processor}:{transition.key}"
    return f"{key}#{told}" if transition.key.endswith("@?") else key


def _run_request(
    resource: AspWorkspace,
    processor: str,
    transition: rules.Transition,
    info: StreamProcessorInfo,
    told: int,
) -> dg.RunRequest:
    payload = rules.state_payload(processor, transition, info)
    scrub = resource.settings().scrub
    tags = {
        "asp/processor": processor,
        "asp/state": transition.state,
        "asp/last_state_change": common.tag(payload["last_state_change"]),
        "asp/error_msg": scrub(common.tag(payload["error_msg"])),
        "asp/error_code": common.tag(payload["error_code"]),
        "asp/error_retryable": common.tag(payload["error_retryable"]),
    }
    return dg.RunRequest(run_key=run_key(processor, transition, told), tags=tags)
