"""Where the wire protocol reaches a workspace, read from its Admin API document
(``hostnames``): what lets a workspace connection name a workspace instead of a host."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from asp_core.errors import AspConnectionError


def wire_address(doc: Mapping[str, Any]) -> tuple[str, int | None]:
    """``(host, port)`` of the workspace's first hostname (``host`` or ``host:port``; a
    ``mongodb://`` form is read too); the port is None when the hostname names none.

    :class:`AspConnectionError` (retryable: Atlas fills it in) when the workspace reports
    no hostname yet.
    """
    name = doc.get("name")
    hostnames = [h for h in doc.get("hostnames") or () if isinstance(h, str) and h.strip()]
    if not hostnames:
        raise AspConnectionError(f"Workspace {name!r} reports no hostname yet.")
    first = hostnames[0].strip()
    parts = urlsplit(first if "://" in first else f"//{first}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or (port is None and ":" in parts.netloc.rsplit("]", 1)[-1]):
        raise AspConnectionError(f"Workspace {name!r} reports an unreadable hostname {first!r}.")
    return parts.hostname, port
