"""Count and inspect the commands a pymongo client sends (pymongo command monitoring).

Pass a :class:`CommandRecorder` in ``event_listeners`` of a ``MongoClient``, a
``StreamProcessingClient`` or an ``AspHook`` to see exactly which commands an operation sent,
in order, without the driver's own handshake, authentication and session commands.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from pymongo import monitoring

#: Commands pymongo sends on its own (handshake, authentication, sessions, health checks).
DRIVER_COMMANDS = frozenset(
    {"hello", "ismaster", "isMaster", "saslStart", "saslContinue", "endSessions", "ping"}
)


class CommandRecorder(monitoring.CommandListener):
    """Records the command documents sent, minus the fields pymongo adds (``lsid``, ``$db``)."""

    def __init__(self, ignore: Collection[str] = DRIVER_COMMANDS) -> None:
        self.ignore = frozenset(ignore)
        self.commands: list[dict[str, Any]] = []
        self.failures: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in self.ignore:
            self.commands.append(
                {
                    key: value
                    for key, value in event.command.items()
                    if key != "lsid" and not key.startswith("$")
                }
            )

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        if event.command_name not in self.ignore:
            self.failures.append(event.command_name)

    def names(self) -> list[str]:
        """The recorded commands' names, in order."""
        return [next(iter(command)) for command in self.commands]

    def items(self) -> list[list[tuple[str, Any]]]:
        """Each command as its (key, value) list: compares key order too."""
        return [list(command.items()) for command in self.commands]

    def take(self) -> list[str]:
        """The names recorded so far, forgetting them."""
        names = self.names()
        self.clear()
        return names

    def clear(self) -> None:
        """Forget everything recorded."""
        self.commands.clear()
        self.failures.clear()
