"""Anthropic ``message`` objects (pure).

Built from a chat answer (``from_chat``), or an anthropic upstream's own
(``native_message``, ``native_token_count``) renamed to the public model.
"""

import re
from typing import Any

import orjson

from switchboard.proxy.adapters.anthropic_answer import read_usage
from switchboard.proxy.adapters.base import Decoded, UpstreamProtocolError, Usage
from switchboard.proxy.adapters.wire import as_object, load_object, relabelled
from switchboard.proxy.apis.messages_request import STOP_REASONS

_ID_SAFE = re.compile(r"[^A-Za-z0-9_-]")


def message_id(upstream_id: str) -> str:
    bare = upstream_id.removeprefix("chatcmpl-").removeprefix("msg_")
    return "msg_" + (_ID_SAFE.sub("", bare)[:48] or "0")


def message_usage(usage: Usage) -> dict[str, int]:
    return {
        "input_tokens": usage.prompt_tokens - usage.cached_tokens - usage.cache_write_tokens,
        "output_tokens": usage.completion_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cached_tokens,
    }


def _message(mid: str, model: str, content: list[dict[str, Any]], stop: str | None, usage: Usage) -> dict[str, Any]:
    return {
        "id": mid,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": message_usage(usage),
    }


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        value = orjson.loads(raw or "{}")
    except orjson.JSONDecodeError:
        raise UpstreamProtocolError(f"upstream tool call arguments are not JSON: {str(raw)[:80]!r}") from None
    return value if isinstance(value, dict) else {"value": value}


def from_chat(completion: dict[str, Any], usage: Usage, model: str) -> dict[str, Any]:
    """A non-streaming chat completion as an Anthropic ``message``."""
    choices = completion.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = as_object(choice.get("message"))
    content: list[dict[str, Any]] = []
    if isinstance(message.get("content"), str) and message["content"]:
        content.append({"type": "text", "text": message["content"]})
    for index, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            raise UpstreamProtocolError(f"chat tool_calls[{index}] has no function")
        call_id = str(call.get("id") or f"toolu_{index}")
        arguments = _arguments(function.get("arguments"))
        content.append({"type": "tool_use", "id": call_id, "name": str(function.get("name")), "input": arguments})
    stop = STOP_REASONS.get(str(choice.get("finish_reason")), "end_turn")
    return _message(message_id(str(completion.get("id") or "chat")), model, content, stop, usage)


def native_message(raw: bytes, public_model: str) -> Decoded:
    """An Anthropic upstream's (non-streaming) ``message``, renamed to the public model."""
    payload = load_object("anthropic", raw, "messages answer")
    if payload.get("type") != "message" or not isinstance(payload.get("content"), list):
        raise UpstreamProtocolError("anthropic messages answer is not a message with a content array")
    return payload, relabelled(payload, raw, public_model), read_usage(as_object(payload.get("usage")))


def native_token_count(raw: bytes) -> Decoded:
    """An Anthropic ``count_tokens`` answer: ``{"input_tokens": n}`` (free: no usage is billed)."""
    payload = load_object("anthropic", raw, "count_tokens answer")
    if not isinstance(payload.get("input_tokens"), int):
        raise UpstreamProtocolError("anthropic count_tokens answer has no input_tokens count")
    return {"input_tokens": payload["input_tokens"]}, None, Usage()
