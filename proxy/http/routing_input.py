"""Building the router's view of a request: sizes and routing hints, never the prompt."""

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from switchboard.proxy.routing.tokens import estimate_input_tokens, estimate_prompt_tokens
from switchboard.proxy.routing.types import Endpoint, RouteRequest

# Never handed to the engine: they carry client credentials.
_PRIVATE_HEADERS = frozenset({"authorization", "cookie", "api-key", "x-api-key", "proxy-authorization"})


def prompt_tokens(body: Mapping[str, Any], endpoint: Endpoint) -> int:
    """The engine's estimate of the prompt: chat ``messages`` and ``tools``, or embeddings ``input``."""
    if endpoint == "embeddings":
        return estimate_input_tokens(body.get("input"))
    messages, tools = body.get("messages"), body.get("tools")
    return estimate_prompt_tokens(
        messages if isinstance(messages, list) else (), tools if isinstance(tools, list) else None
    )


def routing_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if k.lower() not in _PRIVATE_HEADERS}


def string_metadata(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str)}


PREFIX_MESSAGES = 2
"""Prompt-prefix affinity hashes this many leading messages (typically the system prompt and the first turn)."""


def prefix_hash(body: Mapping[str, Any]) -> str | None:
    """A digest of the prompt's first messages: equal prefixes, equal digests; the text never leaves here."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return None
    try:
        raw = orjson.dumps(messages[:PREFIX_MESSAGES], option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def route_request(body: Mapping[str, Any], headers: Mapping[str, str], endpoint: Endpoint) -> RouteRequest:
    """RouteRequest from an already validated (or at least JSON-object) body."""
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    user = body.get("user")
    return RouteRequest(
        model=str(body.get("model", "")),
        endpoint=endpoint,
        stream=body.get("stream") is True,
        prompt_tokens=prompt_tokens(body, endpoint),
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        user=user if isinstance(user, str) else None,
        headers=routing_headers(headers),
        metadata=string_metadata(body.get("metadata")),
        prefix_hash=prefix_hash(body) if endpoint == "chat" else None,
    )
