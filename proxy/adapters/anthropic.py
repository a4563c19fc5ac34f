"""Anthropic Messages API: ``{base}/v1/messages`` with ``x-api-key`` and ``anthropic-version``."""

import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from switchboard.proxy.adapters.anthropic_answer import FAMILY, FINISH_REASONS, read_usage
from switchboard.proxy.adapters.anthropic_request import anthropic_body
from switchboard.proxy.adapters.anthropic_stream import AnthropicStream
from switchboard.proxy.adapters.base import (
    Decoded,
    Target,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamRequest,
)
from switchboard.proxy.adapters.errors import header, upstream_error
from switchboard.proxy.adapters.wire import (
    JSON_HEADERS,
    STREAM_HEADERS,
    chat_completion,
    dump,
    load_object,
    no_embeddings,
)

ANTHROPIC_VERSION = "2023-06-01"


def _message(content: list[Any]) -> dict[str, Any]:
    texts = [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]
    calls = [
        {
            "id": b.get("id"),
            "type": "function",
            "function": {"name": b.get("name"), "arguments": orjson.dumps(b.get("input") or {}).decode()},
        }
        for b in content
        if isinstance(b, dict) and b.get("type") == "tool_use"
    ]
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        message["tool_calls"] = calls
    return message


_BETA = re.compile(r"^[a-z0-9][a-z0-9.-]{0,63}$")
UNSAFE_BETAS = ("oauth-",)
"""Betas the gateway must not forward: OAuth ones switch the upstream to the client's login, while
the gateway authenticates with the provider's key."""


def native_headers(client: Mapping[str, str]) -> dict[str, str]:
    """``anthropic-version`` (the client's, else ours) and the client's well-formed, safe ``anthropic-beta``s."""
    version = header(client, "anthropic-version") or ""
    headers = {"anthropic-version": version if _BETA.match(version) else ANTHROPIC_VERSION}
    betas = [b.strip() for b in (header(client, "anthropic-beta") or "").split(",")]
    safe = [b for b in betas if _BETA.match(b) and not b.startswith(UNSAFE_BETAS)]
    if safe:
        headers["anthropic-beta"] = ",".join(dict.fromkeys(safe))
    return headers


class AnthropicAdapter:
    supports_embeddings = False

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def chat_request(self, target: Target, body: Mapping[str, Any], *, stream: bool) -> UpstreamRequest:
        payload = anthropic_body(dict(body), target.upstream_model, target.model.max_output_tokens, stream=stream)
        headers = dict(STREAM_HEADERS if stream else JSON_HEADERS) | {"anthropic-version": ANTHROPIC_VERSION}
        if target.api_key:
            headers["x-api-key"] = target.api_key
        return UpstreamRequest("POST", f"{target.base_url}/v1/messages", headers, dump(payload))

    def messages_request(
        self, target: Target, body: Mapping[str, Any], *, stream: bool, client_headers: Mapping[str, str]
    ) -> UpstreamRequest:
        """The client's Messages body, natively (``cache_control``, thinking blocks and every other
        field kept); only the model is renamed. The client's ``anthropic-version`` and safe betas go along."""
        payload = {k: v for k, v in body.items() if k not in ("model", "stream")}
        payload["model"] = target.upstream_model
        if stream:
            payload["stream"] = True
        return self._native("messages", target, payload, stream=stream, client_headers=client_headers)

    def count_tokens_request(
        self, target: Target, body: Mapping[str, Any], *, client_headers: Mapping[str, str]
    ) -> UpstreamRequest:
        payload = {k: v for k, v in body.items() if k not in ("model", "stream", "max_tokens")}
        payload["model"] = target.upstream_model
        return self._native("messages/count_tokens", target, payload, stream=False, client_headers=client_headers)

    def _native(
        self, path: str, target: Target, payload: dict[str, Any], *, stream: bool, client_headers: Mapping[str, str]
    ) -> UpstreamRequest:
        headers = dict(STREAM_HEADERS if stream else JSON_HEADERS)
        headers |= native_headers(client_headers)
        if target.api_key:
            headers["x-api-key"] = target.api_key
        return UpstreamRequest("POST", f"{target.base_url}/v1/{path}", headers, dump(payload))

    def chat_answer(self, target: Target, public_model: str, raw: bytes) -> Decoded:
        payload = load_object(FAMILY, raw, "chat response")
        content = payload.get("content")
        if payload.get("type") != "message" or not isinstance(content, list):
            raise UpstreamProtocolError("anthropic chat response is not a message with a content array")
        raw_usage = payload.get("usage") or {}
        usage = read_usage(raw_usage)
        finish_reason = FINISH_REASONS.get(str(payload.get("stop_reason")), "stop")
        completion_id, created = str(payload.get("id") or "msg"), int(self._clock())
        completion = chat_completion(completion_id, created, public_model, _message(content), finish_reason, usage)
        return completion, None, usage

    def chat_stream(self, target: Target, public_model: str, *, include_usage: bool) -> AnthropicStream:
        return AnthropicStream(public_model, int(self._clock()), include_usage=include_usage)

    def embeddings_request(self, target: Target, body: Mapping[str, Any]) -> UpstreamRequest:
        raise no_embeddings(FAMILY)

    def embeddings_response(self, target: Target, public_model: str, raw: bytes) -> Decoded:
        raise no_embeddings(FAMILY)

    def error(self, status: int, raw: bytes, headers: Mapping[str, str]) -> UpstreamError:
        return upstream_error(FAMILY, status, raw, headers, self._clock)
