"""What a code location declares: a workspace (:class:`AspWorkspaceSpec`) and the connections
of its registry (:class:`AspConnectionSpec`). Checked when made, with the core's checks; a
definition never carries a secret: ``secrets`` names the environment variables that hold
them, read when a run deploys the connection."""

import dataclasses
import os
from collections.abc import Mapping
from typing import Any, Optional

from asp_core.admin.deploy import plan_connection, plan_workspace
from asp_core.errors import AspInputError


@dataclasses.dataclass(frozen=True)
class AspWorkspaceSpec:
    """A workspace as it should be: where it runs (``cloud_provider``, ``region``), its
    ``tier`` and ``max_tier_size`` (None: Atlas's defaults), and whether it is created
    with the sample connection ``sample_stream_solar``."""

    name: str
    cloud_provider: str = "AWS"
    region: str = "VIRGINIA_USA"
    tier: Optional[str] = None  # noqa: UP045
    max_tier_size: Optional[str] = None  # noqa: UP045
    sample_connections: bool = False

    def __post_init__(self) -> None:
        plan_workspace(None, self.name)  # the core's check of the name

    def plan_kwargs(self) -> dict[str, Any]:
        """The arguments of :func:`asp_core.admin.deploy.plan_workspace`."""
        return {
            "cloud_provider": self.cloud_provider,
            "region": self.region,
            "tier": self.tier,
            "max_tier_size": self.max_tier_size,
        }


@dataclasses.dataclass(frozen=True)
class AspConnectionSpec:
    """A connection as it should be.

    ``definition``: its Admin API body without secrets (``{"type": "Kafka",
    "bootstrapServers": ..., "authentication": {"mechanism": ..., "username": ...}}``).
    ``secrets``: dotted field path -> name of the environment variable holding the value
    (``{"authentication.password": "KAFKA_PASSWORD"}``; a ``dg.EnvVar`` works too).
    ``update_secrets``: send the secrets on every deploy (True, the core's default: Atlas
    never shows them, so only sending them makes the registry match) or only when another
    field changes (False: an unchanged deploy is one GET). ``allow_replace``: when ``type``
    or ``networking`` differ (Atlas refuses them in place), delete and create the connection
    (False: fail, since processors may be using it).
    """

    name: str
    definition: Mapping[str, Any]
    secrets: Mapping[str, str] = dataclasses.field(default_factory=dict)
    update_secrets: bool = True
    allow_replace: bool = False

    def __post_init__(self) -> None:
        plan_connection(None, self.name, self.definition)  # the core's checks, no secrets
        for path, variable in self.secrets.items():
            if not isinstance(path, str) or not path or not isinstance(variable, str):
                raise AspInputError(
                    f"connection {self.name!r}: secrets maps field paths to environment "
                    "variable names."
                )

    def secret_values(self) -> dict[str, str]:
        """The secrets from the environment (read now); :class:`AspInputError` names the
        variable that is not set, never a value."""
        values: dict[str, str] = {}
        for path, variable in self.secrets.items():
            value = os.environ.get(str(variable))
            if value is None:
                raise AspInputError(
                    f"connection {self.name!r}: environment variable {str(variable)!r} "
                    f"(for {path}) is not set."
                )
            values[path] = value
        return values
