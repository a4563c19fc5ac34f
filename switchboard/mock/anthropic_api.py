"""The Anthropic Messages dialect of the mock (``POST /v1/messages``)."""

import hashlib
from typing import Any

import orjson
from aiohttp import web

from switchboard.mock.conversation import BadRequest, Reply, Turn, count_tokens
from switchboard.mock.dialect import sse

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


def _block_text(block: dict[str, Any]) -> str:
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind == "tool_result":
        return _content_text(block.get("content"))
    if kind == "tool_use":
        return orjson.dumps(block.get("input", {})).decode()
    return ""


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(_block_text(b) for b in content if isinstance(b, dict))
    if content is None:
        return ""
    raise BadRequest("content must be a string or an array of content blocks")


def _tool_result(message: dict[str, Any]) -> str | None:
    content = message.get("content")
    if message.get("role") != "user" or not isinstance(content, list):
        return None
    results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
    return "".join(_block_text(b) for b in results) if results else None


def _tool_choice(body: dict[str, Any]) -> tuple[str | None, bool]:
    choice = body.get("tool_choice") or {}
    if choice.get("type") == "none":
        return None, True
    return (str(choice.get("name")) if choice.get("type") == "tool" else None), False


def parse_anthropic(body: Any) -> Turn:
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    model, messages, max_tokens = body.get("model"), body.get("messages"), body.get("max_tokens")
    if not isinstance(model, str) or not model:
        raise BadRequest("model: Field required")
    if not isinstance(max_tokens, int) or max_tokens < 1:
        raise BadRequest("max_tokens: Field required (a positive integer)")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise BadRequest("messages: a non-empty array of messages is required")
    for index, message in enumerate(messages):
        if message.get("role") not in ("user", "assistant"):
            raise BadRequest(f"messages.{index}.role: Input should be 'user' or 'assistant'")
    texts = [_content_text(m.get("content")) for m in messages]
    users = [t for m, t in zip(messages, texts, strict=True) if m["role"] == "user" and _tool_result(m) is None]
    forced, disabled = _tool_choice(body)
    tools = tuple(str(t.get("name")) for t in body.get("tools") or [] if isinstance(t, dict))
    return Turn(
        model=model,
        last_user_text=users[-1] if users else "",
        prompt_tokens=count_tokens(_content_text(body.get("system"))) + sum(count_tokens(t) for t in texts),
        tool_names=tools,
        forced_tool=forced,
        tools_disabled=disabled,
        tool_result=_tool_result(messages[-1]),
        max_tokens=max_tokens,
        stream=bool(body.get("stream")),
        system_tokens=count_tokens(_content_text(body.get("system"))),
    )


def _message_id(turn: Turn) -> str:
    return "msg_" + hashlib.sha256(f"{turn.model}|{turn.last_user_text}".encode()).hexdigest()[:24]


def _content(reply: Reply) -> list[dict[str, Any]]:
    call = reply.tool_call
    if call is not None:
        return [
            {"type": "tool_use", "id": call.id.replace("call_", "toolu_"), "name": call.name, "input": call.arguments}
        ]
    return [{"type": "text", "text": reply.text}]


def anthropic_body(turn: Turn, reply: Reply) -> dict[str, Any]:
    return {
        "id": _message_id(turn),
        "type": "message",
        "role": "assistant",
        "model": turn.model,
        "content": _content(reply),
        "stop_reason": _STOP_REASONS[reply.finish],
        "stop_sequence": None,
        "usage": {**_input_usage(reply), "output_tokens": reply.completion_tokens},
    }


def _input_usage(reply: Reply) -> dict[str, int]:
    """Anthropic counts cache reads and writes apart from ``input_tokens``."""
    usage = {"input_tokens": reply.prompt_tokens - reply.cached_tokens - reply.cache_write_tokens}
    if reply.cached_tokens or reply.cache_write_tokens:
        usage |= {
            "cache_read_input_tokens": reply.cached_tokens,
            "cache_creation_input_tokens": reply.cache_write_tokens,
        }
    return usage


def _event(data: dict[str, Any]) -> bytes:
    return sse(data, event=str(data["type"]))


def _block_events(reply: Reply) -> list[bytes]:
    call = reply.tool_call
    if call is not None:
        start = {"type": "tool_use", "id": call.id.replace("call_", "toolu_"), "name": call.name, "input": {}}
        args = call.arguments_json
        parts = [args[: len(args) // 2], args[len(args) // 2 :]]
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in parts]
    else:
        start = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": piece} for piece in reply.pieces]
    return [
        _event({"type": "content_block_start", "index": 0, "content_block": start}),
        b'event: ping\ndata: {"type": "ping"}\n\n',
        *(_event({"type": "content_block_delta", "index": 0, "delta": d}) for d in deltas),
        _event({"type": "content_block_stop", "index": 0}),
    ]


def anthropic_events(turn: Turn, reply: Reply) -> list[bytes]:
    head = {**anthropic_body(turn, reply), "content": [], "stop_reason": None}
    head["usage"] = {**_input_usage(reply), "output_tokens": 1}
    return [
        _event({"type": "message_start", "message": head}),
        *_block_events(reply),
        _event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": _STOP_REASONS[reply.finish], "stop_sequence": None},
                "usage": {"output_tokens": reply.completion_tokens},
            }
        ),
        _event({"type": "message_stop"}),
    ]


class AnthropicDialect:
    """``x-api-key`` and a required ``anthropic-version`` header."""

    name = "anthropic"

    def api_key(self, request: web.Request) -> str | None:
        return request.headers.get("x-api-key")

    def header_problem(self, request: web.Request) -> str | None:
        return None if request.headers.get("anthropic-version") else "anthropic-version: header is required"

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        kind = _ERROR_TYPES.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}

    def parse_chat(self, body: Any, *, path_model: str | None, stream_route: bool) -> Turn:
        return parse_anthropic(body)

    def chat_body(self, turn: Turn, reply: Reply) -> dict[str, Any]:
        return anthropic_body(turn, reply)

    def chat_events(self, turn: Turn, reply: Reply) -> list[bytes]:
        return anthropic_events(turn, reply)
