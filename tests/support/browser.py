"""What the browser test and its fixtures share: the workspace's secrets and processors, and
the started API server."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

#: Long and distinctive, so a leak is found by a plain substring search.
PASSWORD = "Ui-Wk5p-s3cret-PASSWORD-4412"
PROCESSORS = ("ui_probe_a", "ui_probe_b")


@dataclass
class AirflowServer:
    url: str
    port: int
    home: Path
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def pgid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
