"""The OpenAI (and Azure OpenAI) chat dialect of the mock."""

import hashlib
from typing import Any

from aiohttp import web

from switchboard.mock.conversation import BadRequest, Reply, Turn, count_tokens, split_pieces
from switchboard.mock.dialect import sse

CREATED = 1_700_000_000
_ROLES = ("system", "developer", "user", "assistant", "tool")
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_denied",
    404: "not_found_error",
    429: "rate_limit_exceeded",
}


def content_text(content: Any) -> str:
    """Text of an OpenAI ``content`` field: a string, ``None`` or a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    raise BadRequest(f"message content must be a string, null or a list of parts, not {type(content).__name__}")


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty array")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise BadRequest(f"messages[{i}] needs a role of system, developer, user, assistant or tool")
    return messages


def _tool_choice(body: dict[str, Any]) -> tuple[str | None, bool]:
    choice = body.get("tool_choice")
    if choice == "none":
        return None, True
    if isinstance(choice, dict):
        return str(choice.get("function", {}).get("name") or ""), False
    return None, False


def parse_openai_chat(body: Any, *, model: str | None) -> Turn:
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    model = model or body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("'model' is required")
    messages = _messages(body)
    texts = [content_text(m.get("content")) for m in messages]
    users = [t for m, t in zip(messages, texts, strict=True) if m["role"] == "user"]
    tools = tuple(t["function"]["name"] for t in body.get("tools") or [] if isinstance(t, dict) and "function" in t)
    forced, disabled = _tool_choice(body)
    stream_options = body.get("stream_options") or {}
    return Turn(
        model=model,
        last_user_text=users[-1] if users else "",
        prompt_tokens=sum(count_tokens(t) for t in texts),
        tool_names=tools,
        forced_tool=forced,
        tools_disabled=disabled,
        tool_result=texts[-1] if messages[-1]["role"] == "tool" else None,
        max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
        stream=bool(body.get("stream")),
        include_usage=bool(stream_options.get("include_usage")),
        system_tokens=sum(count_tokens(t) for m, t in zip(messages, texts, strict=True) if m["role"] in _SYSTEM),
    )


def _completion_id(turn: Turn) -> str:
    return "chatcmpl-" + hashlib.sha256(f"{turn.model}|{turn.last_user_text}".encode()).hexdigest()[:24]


_SYSTEM = ("system", "developer")


def _usage(reply: Reply) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.total_tokens,
    }
    if reply.cached_tokens:
        usage["prompt_tokens_details"] = {"cached_tokens": reply.cached_tokens}
    if reply.reasoning_tokens:
        usage["completion_tokens_details"] = {"reasoning_tokens": reply.reasoning_tokens}
    return usage


def _tool_calls(reply: Reply) -> list[dict[str, Any]] | None:
    call = reply.tool_call
    if call is None:
        return None
    return [{"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments_json}}]


def openai_chat_body(turn: Turn, reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text if reply.tool_call is None else None}
    if reply.tool_call is not None:
        message["tool_calls"] = _tool_calls(reply)
    return {
        "id": _completion_id(turn),
        "object": "chat.completion",
        "created": CREATED,
        "model": turn.model,
        "choices": [{"index": 0, "message": message, "finish_reason": reply.finish, "logprobs": None}],
        "usage": _usage(reply),
    }


def _chunk(turn: Turn, delta: dict[str, Any], finish: str | None = None) -> bytes:
    return sse(
        {
            "id": _completion_id(turn),
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": turn.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }
    )


def _tool_deltas(reply: Reply) -> list[dict[str, Any]]:
    call = reply.tool_call
    assert call is not None
    args = call.arguments_json
    half = len(args) // 2
    head = {"index": 0, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
    return [
        {"tool_calls": [head]},
        {"tool_calls": [{"index": 0, "function": {"arguments": args[:half]}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": args[half:]}}]},
    ]


def openai_chat_events(turn: Turn, reply: Reply) -> list[bytes]:
    events = [_chunk(turn, {"role": "assistant", "content": ""})]
    if reply.tool_call is not None:
        events += [_chunk(turn, delta) for delta in _tool_deltas(reply)]
    else:
        events += [_chunk(turn, {"content": piece}) for piece in reply.pieces]
    events.append(_chunk(turn, {}, reply.finish))
    if turn.include_usage:
        usage_chunk = {
            "id": _completion_id(turn),
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": turn.model,
            "choices": [],
            "usage": _usage(reply),
        }
        events.append(sse(usage_chunk))
    events.append(sse("[DONE]"))
    return events


def openai_error_body(status: int, message: str) -> dict[str, Any]:
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    code = "invalid_api_key" if status == 401 else None
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class OpenAIDialect:
    """``POST /v1/chat/completions`` with ``Authorization: Bearer``."""

    name = "openai"

    def api_key(self, request: web.Request) -> str | None:
        auth = request.headers.get("Authorization", "")
        return auth[len("Bearer ") :] if auth.startswith("Bearer ") else None

    def header_problem(self, request: web.Request) -> str | None:
        return None

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return openai_error_body(status, message)

    def parse_chat(self, body: Any, *, path_model: str | None, stream_route: bool) -> Turn:
        return parse_openai_chat(body, model=path_model)

    def chat_body(self, turn: Turn, reply: Reply) -> dict[str, Any]:
        return openai_chat_body(turn, reply)

    def chat_events(self, turn: Turn, reply: Reply) -> list[bytes]:
        return openai_chat_events(turn, reply)


class AzureDialect(OpenAIDialect):
    """Azure OpenAI: same bodies, deployment in the path, ``api-key`` header, ``api-version`` query."""

    name = "azure-openai"

    def api_key(self, request: web.Request) -> str | None:
        return request.headers.get("api-key")

    def header_problem(self, request: web.Request) -> str | None:
        return None if request.query.get("api-version") else "the api-version query parameter is required"


def embedding_vector(text: str, dimensions: int) -> list[float]:
    """A deterministic unit-range vector derived from the text's hash."""
    seed = hashlib.sha256(text.encode()).digest()
    while len(seed) < dimensions:
        seed += hashlib.sha256(seed).digest()
    return [round(b / 127.5 - 1.0, 6) for b in seed[:dimensions]]


def embeddings_body(body: Any, *, model: str | None) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    model = model or body.get("model")
    inputs = body.get("input")
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(model, str) or not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
        raise BadRequest("'model' and 'input' (a string or an array of strings) are required")
    dimensions = body.get("dimensions") or 8
    if not isinstance(dimensions, int) or not 1 <= dimensions <= 4096:
        raise BadRequest("'dimensions' must be an integer between 1 and 4096")
    tokens = sum(count_tokens(i) for i in inputs)
    return {
        "object": "list",
        "model": model,
        "data": [
            {"object": "embedding", "index": i, "embedding": embedding_vector(text, dimensions)}
            for i, text in enumerate(inputs)
        ],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


__all__ = ["AzureDialect", "OpenAIDialect", "embeddings_body", "split_pieces"]
