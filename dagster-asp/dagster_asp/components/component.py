"""``AspProcessorsComponent``: processors, their checks, sensors and the ``asp`` resource
from a ``defs.yaml``.

A plain ``Component`` + ``Resolvable``, not a ``StateBackedComponent``: a processor's
definition is code written in the YAML, not remote state to fetch and cache, so loading reads
nothing and sends nothing; materializing deploys it.
"""

from typing import Annotated, Optional

import dagster as dg

from asp_core.errors import AspInputError
from dagster_asp.assets import build_asp_processor_assets
from dagster_asp.components.models import (
    AspProcessorModel,
    SensorsModel,
    StateSensorModel,
    StatsSensorModel,
    resolve_processors,
)
from dagster_asp.components.scaffolder import AspProcessorsScaffolder
from dagster_asp.components.workspace import AspWorkspaceModel, resolve_workspace
from dagster_asp.processor import AspProcessor
from dagster_asp.resource import AspWorkspace
from dagster_asp.sensors import build_asp_state_sensor, build_asp_stats_sensor


@dg.scaffold_with(AspProcessorsScaffolder)
class AspProcessorsComponent(dg.Component, dg.Resolvable, dg.Model):
    """Atlas Stream Processing processors declared in YAML: one asset per dataset each one
    writes (``build_asp_processor_assets``), the ``processor_running`` and
    ``dlq_not_growing`` checks (``checks: false`` leaves them out), the sensors asked for
    under ``sensors:`` and the ``AspWorkspace`` resource under ``resource_key``."""

    workspace: Annotated[
        AspWorkspace, dg.Resolver(resolve_workspace, model_field_type=AspWorkspaceModel)
    ]
    processors: Annotated[
        list[AspProcessor],
        dg.Resolver(resolve_processors, model_field_type=list[AspProcessorModel]),
    ]
    sensors: Optional[SensorsModel] = None  # noqa: UP045 - Dagster's schema reads Optional
    checks: bool = True
    resource_key: str = "asp"
    timeout: float = 600.0
    poll_interval: float = 5.0
    cancel_on_termination: bool = True

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        assets = build_asp_processor_assets(
            self.processors,
            resource_key=self.resource_key,
            timeout=self.timeout,
            poll_interval=self.poll_interval,
            cancel_on_termination=self.cancel_on_termination,
            checks=self.checks,
        )
        return dg.Definitions(
            assets=assets,
            sensors=self._sensors(),
            resources={self.resource_key: self.workspace},
        )

    def _sensors(self) -> list[dg.SensorDefinition]:
        sensors = self.sensors or SensorsModel()
        built = []
        if sensors.state is not None:
            built.append(self._state_sensor(sensors.state))
        if sensors.stats is not None:
            built.append(self._stats_sensor(sensors.stats))
        return built

    def _state_sensor(self, spec: StateSensorModel) -> dg.SensorDefinition:
        if (spec.job is None) == (spec.assets is None):
            raise AspInputError(f"sensors.state: give exactly one of job and assets ({spec.name}).")
        target = None
        if spec.assets is not None:  # a processor's assets materialize together
            keys = [dg.AssetKey.from_user_string(key) for key in spec.assets]
            target = dg.AssetSelection.assets(*keys).required_multi_asset_neighbors()
        return build_asp_state_sensor(
            target=target,
            job_name=spec.job,
            processor_names=spec.processors or [p.name for p in self.processors],
            states=spec.states,
            name=spec.name,
            resource_key=self.resource_key,
            minimum_interval_seconds=spec.minimum_interval_seconds,
        )

    def _stats_sensor(self, spec: StatsSensorModel) -> dg.SensorDefinition:
        return build_asp_stats_sensor(
            processors=self.processors,
            checks=spec.checks,
            name=spec.name,
            resource_key=self.resource_key,
            minimum_interval_seconds=spec.minimum_interval_seconds,
        )
