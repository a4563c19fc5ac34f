"""Building the router's view of a request: sizes and routing hints, never the prompt."""

import functools
import hashlib
from collections.abc import Iterator, Mapping
from typing import Any

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from switchboard.proxy.routing.tokens import estimate_input_tokens, estimate_prompt_tokens
from switchboard.proxy.routing.types import NO_ENTRIES, Endpoint, RouteRequest, no_prefix

# Never handed to the engine: they carry client credentials.
_PRIVATE_HEADERS = frozenset({"authorization", "cookie", "api-key", "x-api-key", "proxy-authorization"})
_MULTIDICTS = (CIMultiDictProxy, CIMultiDict)  # a tuple: ``A | B`` would build a union per request
_new_tuple = tuple.__new__


def prompt_tokens(body: Mapping[str, Any], endpoint: Endpoint) -> int:
    """The engine's estimate of the prompt: chat ``messages`` and ``tools``, or embeddings ``input``."""
    if endpoint == "embeddings":
        return estimate_input_tokens(body.get("input"))
    messages, tools = body.get("messages"), body.get("tools")
    return estimate_prompt_tokens(
        messages if isinstance(messages, list) else (), tools if isinstance(tools, list) else None
    )


class RoutingHeaders(Mapping[str, str]):
    """The client's headers as the engine sees them: by lower-case name (the last value of a repeated
    header), credentials hidden.

    A view, not a lower-cased copy: a plan reads one or two headers, a request brings a dozen.
    """

    __slots__ = ("_headers",)

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers: CIMultiDictProxy[str] | CIMultiDict[str] = (
            headers if isinstance(headers, _MULTIDICTS) else CIMultiDict(headers)
        )

    def __contains__(self, name: object) -> bool:
        # One call per look-up: the engine asks for its profile header on every request.
        return type(name) is str and name not in _PRIVATE_HEADERS and name in self._headers and name == name.lower()

    def __getitem__(self, name: str) -> str:
        if name not in self:
            raise KeyError(name)
        return self._headers.getall(name)[-1]

    def get(self, name: str, default: Any = None) -> Any:
        return self._headers.getall(name)[-1] if name in self else default

    def __iter__(self) -> Iterator[str]:
        return iter({name: None for k in self._headers if (name := k.lower()) not in _PRIVATE_HEADERS})

    def __len__(self) -> int:
        return sum(1 for _ in self)


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


def route_request(
    body: Mapping[str, Any], headers: Mapping[str, str], endpoint: Endpoint, *, tokens: int | None = None
) -> RouteRequest:
    """RouteRequest from an already validated (or at least JSON-object) body.

    ``tokens``: the prompt's estimate when validation already counted it (otherwise counted here).
    """
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    user = body.get("user")
    metadata = body.get("metadata")
    # ``is not None and isinstance``: these are mostly absent, and an isinstance that fails looks ``__class__`` up.
    # ``_new_tuple``, as NamedTuple._make does: the generated __new__ is a Python call, one per request
    return _new_tuple(
        RouteRequest,
        (
            str(body.get("model", "")),  # model
            endpoint,
            body.get("stream") is True,  # stream
            prompt_tokens(body, endpoint) if tokens is None else tokens,  # prompt_tokens
            max_tokens if max_tokens is not None and isinstance(max_tokens, int) else None,  # max_tokens
            user if user is not None and isinstance(user, str) else None,  # user
            RoutingHeaders(headers),  # headers
            string_metadata(metadata) if metadata else NO_ENTRIES,  # metadata
            functools.partial(prefix_hash, body) if endpoint == "chat" else no_prefix,  # prefix_hash
            None,  # may_use: set by client auth
        ),
    )


def _chat_like(
    body: Mapping[str, Any],
    headers: Mapping[str, str],
    prompt: list[Any],
    *,
    max_tokens: Any,
    user: Any,
    metadata: dict[str, str],
) -> RouteRequest:
    """The route of a generating request whose ``prompt`` parts (messages, items, system) are counted."""
    tools = body.get("tools")
    return RouteRequest(
        model=str(body.get("model", "")),
        endpoint="chat",
        stream=body.get("stream") is True,
        prompt_tokens=estimate_prompt_tokens(prompt, tools if isinstance(tools, list) else None),
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        user=user if isinstance(user, str) else None,
        headers=RoutingHeaders(headers),
        metadata=metadata,
    )


def responses_route(body: Mapping[str, Any], headers: Mapping[str, str]) -> RouteRequest:
    """A Responses API request as the engine sees it: ``input`` and ``instructions`` are the prompt."""
    raw = body.get("input")
    items: list[Any] = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, list) else []
    if isinstance(body.get("instructions"), str):
        items.append(body["instructions"])
    metadata = string_metadata(body.get("metadata"))
    return _chat_like(
        body, headers, items, max_tokens=body.get("max_output_tokens"), user=body.get("user"), metadata=metadata
    )


def messages_route(body: Mapping[str, Any], headers: Mapping[str, str]) -> RouteRequest:
    """An Anthropic Messages request as the engine sees it: ``system`` and ``messages`` are the prompt."""
    raw = body.get("messages")
    messages: list[Any] = list(raw) if isinstance(raw, list) else []
    if body.get("system"):
        messages.append(body["system"])
    metadata = body.get("metadata")
    user = metadata.get("user_id") if isinstance(metadata, dict) else None
    return _chat_like(
        body, headers, messages, max_tokens=body.get("max_tokens"), user=user, metadata=string_metadata(metadata)
    )


def api_route(api: str, body: Mapping[str, Any], headers: Mapping[str, str]) -> RouteRequest:
    """The route of a request body of client ``api`` (``chat``, ``responses``, ``messages``, ``embeddings``)."""
    if api == "responses":
        return responses_route(body, headers)
    if api == "messages":
        return messages_route(body, headers)
    return route_request(body, headers, "embeddings" if api == "embeddings" else "chat")
