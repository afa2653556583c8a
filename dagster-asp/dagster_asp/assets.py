"""Processors as assets: ``build_asp_processor_assets``.

One ``multi_asset`` per processor, with the translator's specs: an asset per dataset the
processor writes (``$merge``, ``$emit``, its DLQ); a processor that names no output gets one
asset keyed ``["asp", <processor name>]``. Materializing deploys the processor with the
core's plan (create if missing, modify if the definition differs, start or stop as
``desired_state`` asks), the same plan as the Airflow deploy operator, waits bounded by
``timeout``; then evaluates the ``processor_running`` and ``dlq_not_growing`` checks.
Run again unchanged, it sends one ``getStreamProcessor`` (and one stats read for the DLQ
check) and reports ``asp/changed: False``.
"""

from collections.abc import Iterator, Sequence
from typing import Any, Optional, Union

import dagster as dg

from asp_core.health import judge_dlq_not_growing, judge_processor_running
from asp_core.jsonable import to_jsonable
from asp_core.plans.lifecycle import Deployed, definition_inputs, deployed, plan_deploy
from dagster_asp.checks import (
    DLQ_NOT_GROWING,
    PROCESSOR_RUNNING,
    asp_check_specs,
    check_result,
    previous_dlq_count,
)
from dagster_asp.deploy import DEFAULT_POLL_INTERVAL, DEFAULT_TIMEOUT, run_plan
from dagster_asp.errors import dagster_errors
from dagster_asp.processor import AspProcessor
from dagster_asp.resource import AspWorkspace
from dagster_asp.translator import KIND, DagsterAspTranslator

#: The key prefix of the one asset of a processor that names no output.
FALLBACK_PREFIX = "asp"


def processor_asset_specs(
    processor: AspProcessor,
    translator: Optional[DagsterAspTranslator] = None,  # noqa: UP045
) -> list[dg.AssetSpec]:
    """The processor's asset specs: the translator's, or ``["asp", <name>]`` when it names
    no output."""
    translator = translator or DagsterAspTranslator()
    specs = list(translator.get_asset_specs(processor))
    if specs:
        return specs
    return [
        dg.AssetSpec(
            key=dg.AssetKey([FALLBACK_PREFIX, processor.name]),
            group_name=translator.get_group_name(processor),
            kinds={KIND},
            description=f"The stream processor {processor.name!r} (it names no output).",
            metadata={"asp/processor": processor.name},
        )
    ]


def build_asp_processor_assets(
    processors: Sequence[AspProcessor],
    *,
    translator: Optional[DagsterAspTranslator] = None,  # noqa: UP045
    resource_key: str = "asp",
    timeout: float = DEFAULT_TIMEOUT,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    cancel_on_termination: bool = True,
    checks: bool = True,
) -> list[dg.AssetsDefinition]:
    """One ``AssetsDefinition`` per processor (see the module).

    :param translator: names the assets (default :class:`DagsterAspTranslator`).
    :param resource_key: the :class:`~dagster_asp.AspWorkspace` resource's key.
    :param timeout: seconds a materialization may take at most, commands and waits together.
    :param poll_interval: seconds between two looks while waiting for a state.
    :param cancel_on_termination: when the run is terminated while waiting, stop the
        processor this run started (never one it did not start).
    :param checks: attach the ``processor_running`` and ``dlq_not_growing`` checks.
    """
    names = [processor.name for processor in processors]
    if len(set(names)) != len(names):
        raise dg.DagsterInvalidDefinitionError(f"Processor names repeat: {names}.")
    return [
        _processor_assets(
            processor,
            translator or DagsterAspTranslator(),
            resource_key,
            timeout=timeout,
            poll_interval=poll_interval,
            cancel_on_termination=cancel_on_termination,
            checks=checks,
        )
        for processor in processors
    ]


def _processor_assets(
    processor: AspProcessor,
    translator: DagsterAspTranslator,
    resource_key: str,
    checks: bool = True,
    **run: Any,
) -> dg.AssetsDefinition:
    specs = processor_asset_specs(processor, translator)
    keys = [spec.key for spec in specs]

    @dg.multi_asset(
        name=f"asp_{translator.get_group_name(processor)}",
        specs=specs,
        check_specs=asp_check_specs(keys) if checks else None,
        required_resource_keys={resource_key},
        description=f"Deploys the stream processor {processor.name!r} ({processor.desired_state}).",
    )
    def _deploy(
        context: dg.AssetExecutionContext,
    ) -> Iterator[Union[dg.MaterializeResult, dg.AssetCheckResult]]:  # noqa: UP007
        asp: AspWorkspace = getattr(context.resources, resource_key)
        options = dict(processor.options or {})
        inputs = definition_inputs(
            processor.pipeline,
            dlq=options.get("dlq"),
            tier=options.get("tier"),
            stream_meta_field_name=options.get("stream_meta_field_name"),
            failover=options.get("failover"),
        )
        actions, done = run_plan(
            asp,
            context.log,
            processor.name,
            lambda found: plan_deploy(found, processor.desired_state),
            inputs,
            **run,
        )
        with dagster_errors(asp.settings(), context.log):
            outcome = deployed(actions, done)
        metadata = deploy_metadata(outcome)
        for key in keys:
            yield dg.MaterializeResult(asset_key=key, metadata=metadata)
        yield from _checks(context, asp, actions, processor, outcome, keys)

    return _deploy


def deploy_metadata(outcome: Deployed) -> dict[str, Any]:
    """``asp/steps``, ``asp/changed``, ``asp/state``, ``asp/last_state_change``: JSON only."""
    metadata: dict[str, Any] = {
        "asp/steps": dg.MetadataValue.json(to_jsonable(outcome.steps)),
        "asp/changed": outcome.changed,
        "asp/state": outcome.state,
    }
    if outcome.last_state_change is not None:
        metadata["asp/last_state_change"] = outcome.last_state_change
    return metadata


def _checks(
    context: dg.AssetExecutionContext,
    asp: AspWorkspace,
    actions: Any,
    processor: AspProcessor,
    outcome: Deployed,
    keys: list[dg.AssetKey],
) -> Iterator[dg.AssetCheckResult]:
    """The selected checks, from the deploy's outcome and one stats read."""
    selected = context.selected_asset_check_keys
    running = [key for key in keys if dg.AssetCheckKey(key, PROCESSOR_RUNNING) in selected]
    dlq = [key for key in keys if dg.AssetCheckKey(key, DLQ_NOT_GROWING) in selected]
    judgement = judge_processor_running(processor.name, outcome.info, processor.desired_state)
    for key in running:
        yield check_result(judgement, key, PROCESSOR_RUNNING)
    if not dlq:
        return
    with dagster_errors(asp.settings(), context.log), actions.bounded():
        stats = actions.processors.get(outcome.name).stats()
    for key in dlq:
        previous = previous_dlq_count(context.instance, key)
        dlq_judgement = judge_dlq_not_growing(processor.name, stats, previous)
        yield check_result(dlq_judgement, key, DLQ_NOT_GROWING)
