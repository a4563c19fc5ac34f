"""Building the router's view of a request: sizes and routing hints, never the prompt."""

from collections.abc import Mapping
from typing import Any

import orjson

from switchboard.proxy.routing.types import Endpoint, RouteRequest

# Never handed to the engine: they carry client credentials.
_PRIVATE_HEADERS = frozenset({"authorization", "cookie", "api-key", "x-api-key", "proxy-authorization"})
_CHARS_PER_TOKEN = 4


def estimate_tokens(value: Any) -> int:
    """A cheap prompt size estimate (about four characters per token)."""
    if value is None:
        return 0
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return max(1, len(text) // _CHARS_PER_TOKEN)


def routing_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if k.lower() not in _PRIVATE_HEADERS}


def string_metadata(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str)}


def route_request(body: Mapping[str, Any], headers: Mapping[str, str], endpoint: Endpoint) -> RouteRequest:
    """RouteRequest from an already validated (or at least JSON-object) body."""
    prompt = body.get("messages") if endpoint == "chat" else body.get("input")
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    user = body.get("user")
    return RouteRequest(
        model=str(body.get("model", "")),
        endpoint=endpoint,
        stream=body.get("stream") is True,
        prompt_tokens=estimate_tokens(prompt),
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        user=user if isinstance(user, str) else None,
        headers=routing_headers(headers),
        metadata=string_metadata(body.get("metadata")),
    )
