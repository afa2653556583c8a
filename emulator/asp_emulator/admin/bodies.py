"""Request bodies of the Admin API checked as Atlas does: JSON objects whose fields are
the ones the endpoint's schema lists, each of its type.

A field no schema lists is refused with ``INVALID_ATTRIBUTE`` (400), a field of the wrong
type with ``INVALID_JSON_ATTRIBUTE`` (400), both naming the field (``parameters``); a body
that is not JSON with ``INVALID_JSON``. Read-only fields (``_id``, ``state``, ...) are
dropped, so that a document read back can be sent again.
"""

from __future__ import annotations

import json
from typing import Any

from asp_emulator.admin.errors import ApiError

#: a ``{string: string}`` map (Kafka ``config``, Https ``headers``)
MAP = "map"
Shape = Any  # type | str | dict[str, Shape] | list[Shape]

REGION: dict[str, Shape] = {"cloudProvider": str, "region": str}
STREAM_CONFIG: dict[str, Shape] = {"tier": str, "maxTierSize": str}
WORKSPACE: dict[str, Shape] = {
    "name": str,
    "dataProcessRegion": REGION,
    "streamConfig": STREAM_CONFIG,
    "failoverRegions": [REGION],
    "sampleConnections": {"solar": bool},
}
WORKSPACE_UPDATE: dict[str, Shape] = {
    "cloudProvider": str,
    "region": str,
    "streamConfig": STREAM_CONFIG,
    "failoverRegions": [REGION],
    "processorStatus": {"status": str, "mode": str, "region": str},
}
_AWS: dict[str, Shape] = {"roleArn": str, "testBucket": str}
CONNECTION: dict[str, Shape] = {
    "name": str,
    "type": str,
    "region": str,
    "clusterGroupId": str,
    "clusterName": str,
    "dbRoleToExecute": {"role": str, "type": str},
    "authentication": {
        "aws": _AWS,
        "clientId": str,
        "clientSecret": str,
        "mechanism": str,
        "method": str,
        "password": str,
        "saslOauthbearerExtensions": str,
        "scope": str,
        "sslCertificate": str,
        "sslKey": str,
        "sslKeyPassword": str,
        "tokenEndpointUrl": str,
        "username": str,
    },
    "bootstrapServers": str,
    "config": MAP,
    "networking": {"access": {"connectionId": str, "name": str, "tgwRouteId": str, "type": str}},
    "security": {"brokerPublicCertificate": str, "protocol": str},
    "headers": MAP,
    "url": str,
    "aws": _AWS,
    "publicPrivateNetworking": {"access": {"connectionId": str, "type": str}},
    "provider": str,
    "schemaRegistryAuthentication": {"type": str, "password": str, "username": str},
    "schemaRegistryUrls": [str],
    "azure": {"region": str, "servicePrincipalId": str, "storageAccountName": str},
    "gcp": {"serviceAccountId": str},
}
#: the fields each connection type takes besides name, type and region (the document's
#: ``x-xgen-discriminator``)
TYPE_FIELDS: dict[str, frozenset[str]] = {
    "Cluster": frozenset({"clusterGroupId", "clusterName", "dbRoleToExecute"}),
    "Kafka": frozenset({"authentication", "bootstrapServers", "config", "networking", "security"}),
    "Sample": frozenset(),
    "Https": frozenset({"headers", "url"}),
    "AWSLambda": frozenset({"aws", "publicPrivateNetworking"}),
    "S3": frozenset({"aws", "networking"}),
    "AWSKinesisDataStreams": frozenset({"aws", "networking"}),
    "AzureBlobStorage": frozenset({"azure", "publicPrivateNetworking"}),
    "GCPPubSub": frozenset({"gcp", "publicPrivateNetworking"}),
    "SchemaRegistry": frozenset({"provider", "schemaRegistryAuthentication", "schemaRegistryUrls"}),
}
#: the fields a connection type requires
TYPE_REQUIRED: dict[str, frozenset[str]] = {
    "SchemaRegistry": frozenset({"provider", "schemaRegistryAuthentication", "schemaRegistryUrls"})
}
#: read-only fields of the documents the API returns: ignored in bodies
READ_ONLY = frozenset({"_id", "id", "groupId", "hostnames", "connections", "links", "state"})


def parse(raw: bytes) -> dict[str, Any]:
    """The JSON object in ``raw`` (UTF-8), or ``INVALID_JSON``."""
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise ApiError(
            400, "INVALID_JSON", "Received JSON does not match expected format."
        ) from None
    if not isinstance(body, dict):
        raise ApiError(400, "INVALID_JSON", "Received JSON does not match expected format.")
    return body


def check(body: dict[str, Any], shape: dict[str, Shape]) -> dict[str, Any]:
    """``body`` without its read-only fields, once every other field is one ``shape``
    lists, of its type."""
    kept = {key: value for key, value in body.items() if key not in READ_ONLY}
    _check_object(kept, shape, "")
    return kept


def _check_object(value: dict[str, Any], shape: dict[str, Shape], where: str) -> None:
    for key, item in value.items():
        name = f"{where}{key}"
        if key not in shape:
            raise ApiError(400, "INVALID_ATTRIBUTE", f"Invalid attribute {name} specified.", [name])
        _check_value(item, shape[key], name)


def _check_value(value: Any, shape: Shape, name: str) -> None:
    if isinstance(shape, dict):
        ok = isinstance(value, dict)
        if ok:
            _check_object(value, shape, f"{name}.")
    elif isinstance(shape, list):
        ok = isinstance(value, list)
        if ok:
            for item in value:
                _check_value(item, shape[0], name)
    elif shape == MAP:
        ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    elif shape is bool:
        ok = isinstance(value, bool)
    else:
        ok = isinstance(value, shape) and not isinstance(value, bool)
    if not ok:
        raise ApiError(
            400,
            "INVALID_JSON_ATTRIBUTE",
            f"Received JSON for the {name} attribute does not match expected format.",
            [name],
        )


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")
