"""The wire side of a workspace of the emulated project: its engine (the
:class:`~asp_emulator.processors.ProcessorRegistry` the wire commands use, with its
connection registry) and, for a workspace created over the Admin API, the wire server
answering for it.

:meth:`Project.engine <asp_emulator.admin.project.Project.engine>` is the one way to reach a
workspace's engine (HTTP processor routes use it; a connection created in its registry is
what its processors' ``$source``/``$merge``/``$emit`` resolve).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from asp_emulator.engine import Connections
from asp_emulator.processors import ProcessorRegistry
from asp_emulator.server import Server


@dataclass
class WireSide:
    """Workspace ``name`` on the wire: its engine and its server."""

    name: str
    engine: ProcessorRegistry
    #: the wire server of a workspace created over HTTP (None: the emulator's own, which
    #: :class:`~asp_emulator.workspace.Workspace` serves)
    server: Server | None = field(default=None, repr=False)
    port: int = 0

    @property
    def connections(self) -> Connections:
        """Its connection registry."""
        return self.engine.connections

    async def stop(self) -> None:
        """Stop its processors and its wire server (a workspace deleted over HTTP)."""
        await self.engine.shutdown()
        if self.server is not None:
            await self.server.close()
            self.server = None


#: Starts the wire side of a new workspace: ``(name, streamConfig) -> WireSide``, serving
#: on 127.0.0.1 (a free port, the emulator's TLS, users and limits)
Launcher = Callable[[str, dict[str, str]], Awaitable[WireSide]]
