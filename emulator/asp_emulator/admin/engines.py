"""One workspace's engine: what its wire commands use (connection registry, processors,
dispatcher) and, for a workspace created over the Admin API, the wire server answering for it.

:meth:`Project.engine <asp_emulator.admin.project.Project.engine>` is the one way to reach
a workspace's engine (HTTP processor routes use its ``registry``; connections created in its
registry are what its processors' ``$source``/``$merge``/``$emit`` resolve).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from asp_emulator.commands import Dispatcher
from asp_emulator.engine import Connections
from asp_emulator.processors import ProcessorRegistry
from asp_emulator.server import Server
from asp_emulator.testing import ProcessorKnobs


@dataclass
class Engine:
    """The state the wire commands of workspace ``name`` use."""

    name: str
    connections: Connections
    registry: ProcessorRegistry
    dispatcher: Dispatcher
    knobs: ProcessorKnobs
    #: the wire server of a workspace created over HTTP (None: the emulator's own, which
    #: :class:`~asp_emulator.workspace.Workspace` serves)
    server: Server | None = field(default=None, repr=False)
    port: int = 0

    async def stop(self) -> None:
        """Stop its processors and its wire server (a workspace deleted over HTTP)."""
        await self.registry.shutdown()
        if self.server is not None:
            await self.server.close()
            self.server = None


#: Starts the engine of a new workspace: ``(name, streamConfig) -> Engine``, serving on
#: 127.0.0.1 (a free port, the emulator's TLS, users and limits)
Launcher = Callable[[str, dict[str, str]], Awaitable[Engine]]
