"""The Gemini ``generateContent`` dialect of the mock (streams use CRLF like Google's)."""

from typing import Any

import orjson
from aiohttp import web

from switchboard.mock.conversation import BadRequest, Reply, Turn, count_tokens
from switchboard.mock.dialect import sse

_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP"}


def _part_text(part: Any) -> str:
    if not isinstance(part, dict):
        raise BadRequest("parts must be objects")
    if "text" in part:
        return str(part["text"])
    if "functionCall" in part:
        return orjson.dumps(part["functionCall"].get("args", {})).decode()
    if "functionResponse" in part:
        response = part["functionResponse"].get("response", {})
        content = response.get("content") if isinstance(response, dict) else None
        return content if isinstance(content, str) else orjson.dumps(response).decode()
    return ""


def _content_text(content: Any) -> str:
    if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
        raise BadRequest("each content needs a 'parts' array")
    return "".join(_part_text(p) for p in content["parts"])


def _tool_result(content: dict[str, Any]) -> str | None:
    responses = [p for p in content["parts"] if isinstance(p, dict) and "functionResponse" in p]
    return "".join(_part_text(p) for p in responses) if responses else None


def _tools(body: dict[str, Any]) -> tuple[tuple[str, ...], str | None, bool]:
    names = tuple(
        str(d.get("name"))
        for tool in body.get("tools") or []
        if isinstance(tool, dict)
        for d in tool.get("functionDeclarations") or []
    )
    config = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    allowed = config.get("allowedFunctionNames") or []
    forced = str(allowed[0]) if config.get("mode") == "ANY" and allowed else None
    return names, forced, config.get("mode") == "NONE"


def parse_gemini(body: Any, *, model: str, stream: bool) -> Turn:
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise BadRequest("contents is not specified")
    for index, content in enumerate(contents):
        if not isinstance(content, dict) or content.get("role", "user") not in ("user", "model", "function"):
            raise BadRequest(f"contents[{index}].role must be 'user' or 'model'")
    texts = [_content_text(c) for c in contents]
    users = [
        t for c, t in zip(contents, texts, strict=True) if c.get("role", "user") == "user" and _tool_result(c) is None
    ]
    system = body.get("systemInstruction")
    names, forced, disabled = _tools(body)
    max_tokens = (body.get("generationConfig") or {}).get("maxOutputTokens")
    return Turn(
        model=model,
        last_user_text=users[-1] if users else "",
        prompt_tokens=(count_tokens(_content_text(system)) if system else 0) + sum(count_tokens(t) for t in texts),
        tool_names=names,
        forced_tool=forced,
        tools_disabled=disabled,
        tool_result=_tool_result(contents[-1]),
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        stream=stream,
        system_tokens=count_tokens(_content_text(system)) if system else 0,
    )


def _usage(reply: Reply, *, final: bool) -> dict[str, int]:
    usage = {"promptTokenCount": reply.prompt_tokens}
    if reply.cached_tokens:
        usage["cachedContentTokenCount"] = reply.cached_tokens
    if final:
        visible = reply.completion_tokens - reply.reasoning_tokens  # Gemini counts thoughts apart
        usage |= {"candidatesTokenCount": visible, "totalTokenCount": reply.total_tokens}
        if reply.reasoning_tokens:
            usage["thoughtsTokenCount"] = reply.reasoning_tokens
    return usage


def _parts(reply: Reply) -> list[dict[str, Any]]:
    call = reply.tool_call
    if call is not None:
        return [{"functionCall": {"name": call.name, "args": call.arguments}}]
    return [{"text": reply.text}]


def gemini_body(turn: Turn, reply: Reply) -> dict[str, Any]:
    candidate = {
        "content": {"role": "model", "parts": _parts(reply)},
        "finishReason": _FINISH[reply.finish],
        "index": 0,
    }
    return {"candidates": [candidate], "usageMetadata": _usage(reply, final=True), "modelVersion": turn.model}


def gemini_events(turn: Turn, reply: Reply) -> list[bytes]:
    pieces: list[list[dict[str, Any]]] = [[{"text": p}] for p in reply.pieces] or [_parts(reply)]
    events = []
    for index, parts in enumerate(pieces):
        last = index == len(pieces) - 1
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if last:
            candidate["finishReason"] = _FINISH[reply.finish]
        payload = {"candidates": [candidate], "usageMetadata": _usage(reply, final=last), "modelVersion": turn.model}
        events.append(sse(payload, newline="\r\n"))
    return events


class GeminiDialect:
    """``x-goog-api-key`` header (or ``?key=``); the model and streaming are in the path."""

    name = "gemini"

    def api_key(self, request: web.Request) -> str | None:
        return request.headers.get("x-goog-api-key") or request.query.get("key")

    def header_problem(self, request: web.Request) -> str | None:
        return None

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"error": {"code": status, "message": message, "status": _STATUSES.get(status, "UNKNOWN")}}

    def parse_chat(self, body: Any, *, path_model: str | None, stream_route: bool) -> Turn:
        return parse_gemini(body, model=path_model or "", stream=stream_route)

    def chat_body(self, turn: Turn, reply: Reply) -> dict[str, Any]:
        return gemini_body(turn, reply)

    def chat_events(self, turn: Turn, reply: Reply) -> list[bytes]:
        return gemini_events(turn, reply)
