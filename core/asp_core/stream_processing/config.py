"""Connection rules of a stream processing workspace, applied before pymongo sees them.

A workspace is reached with a ``mongodb://`` URI only, always over TLS, and
authenticates against ``admin`` unless told otherwise. :func:`workspace_client_kwargs`
checks the URI and keyword arguments a client is built with and returns the keyword
arguments to hand to ``MongoClient``/``AsyncMongoClient``; everything else passes through
unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pymongo.errors import ConfigurationError
from pymongo.uri_parser import parse_uri

__all__ = ["workspace_client_kwargs"]

_SRV_SCHEME = "mongodb+srv://"
_SCHEME = "mongodb://"


def _lower_keys(options: Mapping[str, Any]) -> dict[str, Any]:
    return {key.lower(): value for key, value in options.items()}


def _disabled(value: Any) -> bool:
    """A ``tls``/``ssl`` value that turns TLS off (``False`` or the string ``"false"``)."""
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


def workspace_client_kwargs(
    host: str | Sequence[str] | None, kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """The keyword arguments for pymongo's client, after the workspace rules.

    - a ``mongodb+srv://`` host raises ConfigurationError (checked before any parsing, so
      no DNS lookup happens);
    - ``tls=false``/``ssl=false`` in a URI or in ``kwargs`` raises ConfigurationError;
      without either, ``tls=True`` is added;
    - without an explicit ``authSource`` (URI or ``kwargs``), ``authSource="admin"`` is
      added (a database in the URI path does not count).
    """
    hosts = [host] if isinstance(host, str) else list(host or [])
    options: list[dict[str, Any]] = [_lower_keys(kwargs)]
    for entity in hosts:
        if entity.lower().startswith(_SRV_SCHEME):
            raise ConfigurationError(
                "StreamProcessingClient does not support mongodb+srv:// URIs; use mongodb://"
            )
        if entity.lower().startswith(_SCHEME):
            options.append(_lower_keys(parse_uri(entity, warn=False)["options"]))
    if any(_disabled(opts.get(key)) for opts in options for key in ("tls", "ssl")):
        raise ConfigurationError(
            "TLS cannot be disabled for stream processing workspace connections."
        )
    result = dict(kwargs)
    if not any(key in options[0] for key in ("tls", "ssl")):
        result["tls"] = True
    if not any("authsource" in opts for opts in options):
        result["authSource"] = "admin"
    return result
