"""Small helpers every adapter shares: strict JSON decoding and OpenAI SSE encoding."""

from collections.abc import Mapping
from typing import Any

import orjson

from switchboard.proxy.adapters.base import AdapterRequestError, UpstreamProtocolError, Usage

DONE_EVENT = b"data: [DONE]\n\n"
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
STREAM_HEADERS = {"Content-Type": "application/json", "Accept": "text/event-stream"}


def load_object(family: str, raw: bytes | str, what: str) -> dict[str, Any]:
    """Decode a JSON object or raise ``UpstreamProtocolError`` naming what was being read."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        preview = raw[:80] if isinstance(raw, str) else raw[:80].decode(errors="replace")
        raise UpstreamProtocolError(f"{family} {what} is not valid JSON ({exc}): {preview!r}") from None
    if not isinstance(value, dict):
        raise UpstreamProtocolError(f"{family} {what} is JSON but not an object")
    return value


def sse_event(payload: Mapping[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


dump = orjson.dumps
"""A request body's bytes: orjson's own function, not a wrapper (one Python call less per request)."""


def relabelled(payload: dict[str, Any], raw: bytes, public_model: str) -> bytes:
    """``payload`` (decoded from ``raw``) renamed to ``public_model``, and its bytes for the client.

    An answer that already names the public model needs no change: the client gets the upstream's
    own bytes (the same JSON), never a re-encoding (an embeddings answer's thousands of floats).
    """
    if payload.get("model") == public_model:
        return raw
    payload["model"] = public_model
    return orjson.dumps(payload)


def as_int(value: Any) -> int:
    """A token count from an upstream field; anything that is not a count counts as 0."""
    return value if type(value) is int and value >= 0 else 0  # (JSON's true/false are bools, not counts)


def usage_dict(usage: Usage) -> dict[str, Any]:
    """OpenAI's ``usage``, with ``*_tokens_details`` when the upstream reported cache or reasoning tokens."""
    out: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }
    if usage.cached_tokens or usage.cache_write_tokens:
        out["prompt_tokens_details"] = {"cached_tokens": usage.cached_tokens}
        if usage.cache_write_tokens:
            out["prompt_tokens_details"]["cache_write_tokens"] = usage.cache_write_tokens
    if usage.reasoning_tokens:
        out["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    return out


def require_messages(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The client's ``messages``, checked just enough for translation to be safe.

    Adapters take chat bodies whose messages passed this (or the chat endpoint's validation, which
    implies it): checked once per request where a body comes in, never again per attempt.
    """
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise AdapterRequestError("'messages' must be a non-empty array")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise AdapterRequestError(f"messages[{index}] must be an object with a 'role'")
    return messages


def chat_completion(
    completion_id: str, created: int, model: str, message: Mapping[str, Any], finish_reason: str, usage: Usage
) -> dict[str, Any]:
    """A non-streaming OpenAI ``chat.completion`` with a single choice."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": dict(message), "finish_reason": finish_reason, "logprobs": None}],
        "usage": usage_dict(usage),
    }


def no_embeddings(family: str) -> AdapterRequestError:
    """The error of an adapter whose upstream API has no embeddings endpoint."""
    return AdapterRequestError(f"{family} upstreams do not serve embeddings")


def stream_failure(message: str, *, code: str = "upstream_stream_error") -> list[bytes]:
    """A chat stream's end after an upstream failure: an error event SDKs raise on, then ``[DONE]``."""
    body = {"error": {"message": message, "type": "upstream_error", "code": code, "param": None}}
    return [sse_event(body), DONE_EVENT]


def as_object(value: Any) -> dict[str, Any]:
    """A JSON object field of an untrusted body, or an empty one when it is missing or not an object."""
    return value if isinstance(value, dict) else {}
