"""The OpenAI Responses dialect of the mock (``POST /v1/responses``).

Same Bearer auth and error bodies as chat; the request's ``input`` items and
function tools become a ``Turn``, and the reply is a ``response`` object or the
Responses event stream with consecutive ``sequence_number``s.
"""

import hashlib
from typing import Any

from switchboard.mock.conversation import BadRequest, Reply, Turn, count_tokens
from switchboard.mock.dialect import sse
from switchboard.mock.openai_api import CREATED, OpenAIDialect


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    raise BadRequest("input content must be a string or an array of content parts")


def _items(body: dict[str, Any]) -> list[dict[str, Any]]:
    raw = body.get("input")
    if isinstance(raw, str):
        return [{"type": "message", "role": "user", "content": raw}]
    if not isinstance(raw, list) or not raw or not all(isinstance(i, dict) for i in raw):
        raise BadRequest("'input' must be a string or a non-empty array of items")
    return raw


def _tool_choice(choice: Any) -> tuple[str | None, bool]:
    if choice == "none":
        return None, True
    if isinstance(choice, dict) and choice.get("type") == "function":
        return str(choice.get("name") or ""), False
    return None, False


def parse_responses(body: Any) -> Turn:
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("'model' is required")
    if body.get("previous_response_id") is not None:
        raise BadRequest("the mock stores no responses: previous_response_id is not supported")
    items = _items(body)
    texts: list[str] = []
    users: list[str] = []
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            text = _text(item.get("content"))
            texts.append(text)
            users += [text] if item.get("role") == "user" else []
        elif kind == "function_call":
            texts.append(str(item.get("arguments", "")))
        elif kind == "function_call_output":
            texts.append(_text(item.get("output", "")))
        else:
            raise BadRequest(f"unsupported input item type {kind!r}")
    last = items[-1]
    tools = tuple(
        str(t["name"]) for t in body.get("tools") or [] if isinstance(t, dict) and t.get("type") == "function"
    )
    forced, disabled = _tool_choice(body.get("tool_choice"))
    instructions = str(body.get("instructions") or "")
    return Turn(
        model=model,
        last_user_text=users[-1] if users else "",
        prompt_tokens=count_tokens(instructions) + sum(count_tokens(t) for t in texts),
        tool_names=tools,
        forced_tool=forced,
        tools_disabled=disabled,
        tool_result=_text(last.get("output", "")) if last.get("type") == "function_call_output" else None,
        max_tokens=body.get("max_output_tokens"),
        stream=bool(body.get("stream")),
    )


def _ids(turn: Turn) -> tuple[str, str]:
    digest = hashlib.sha256(f"{turn.model}|{turn.last_user_text}|{turn.tool_result}".encode()).hexdigest()[:24]
    return f"resp_{digest}", f"msg_{digest}"


def _output(turn: Turn, reply: Reply) -> list[dict[str, Any]]:
    _, item_id = _ids(turn)
    call = reply.tool_call
    if call is not None:
        return [
            {
                "id": "fc_" + item_id.removeprefix("msg_"),
                "type": "function_call",
                "status": "completed",
                "call_id": call.id,
                "name": call.name,
                "arguments": call.arguments_json,
            }
        ]
    text = {"type": "output_text", "text": reply.text, "annotations": [], "logprobs": []}
    return [{"id": item_id, "type": "message", "status": "completed", "role": "assistant", "content": [text]}]


def responses_body(turn: Turn, reply: Reply, *, status: str = "completed") -> dict[str, Any]:
    response_id, _ = _ids(turn)
    done = status == "completed"
    incomplete = done and reply.finish == "length"
    return {
        "id": response_id,
        "object": "response",
        "created_at": CREATED,
        "status": "incomplete" if incomplete else status,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "error": None,
        "model": turn.model,
        "output": _output(turn, reply) if done else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "store": False,
        "usage": {
            "input_tokens": reply.prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": reply.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": reply.total_tokens,
        }
        if done
        else None,
    }


def _item_events(item: dict[str, Any], reply: Reply) -> list[dict[str, Any]]:
    """The events of the one output item, between its added and done events."""
    if item["type"] == "function_call":
        args = item["arguments"]
        half = len(args) // 2
        base = {"item_id": item["id"], "output_index": 0}
        return [
            {"type": "response.function_call_arguments.delta", **base, "delta": args[:half]},
            {"type": "response.function_call_arguments.delta", **base, "delta": args[half:]},
            {"type": "response.function_call_arguments.done", **base, "name": item["name"], "arguments": args},
        ]
    base = {"item_id": item["id"], "output_index": 0, "content_index": 0}
    part: dict[str, Any] = item["content"][0]
    empty = {**part, "text": ""}
    deltas = [{"type": "response.output_text.delta", **base, "delta": p, "logprobs": []} for p in reply.pieces]
    return [
        {"type": "response.content_part.added", **base, "part": empty},
        *deltas,
        {"type": "response.output_text.done", **base, "text": part["text"], "logprobs": []},
        {"type": "response.content_part.done", **base, "part": part},
    ]


def responses_events(turn: Turn, reply: Reply) -> list[bytes]:
    head = responses_body(turn, reply, status="in_progress")
    final = responses_body(turn, reply)
    (item,) = final["output"]
    opening = {**item, "status": "in_progress", **({"content": []} if item["type"] == "message" else {"arguments": ""})}
    payloads: list[dict[str, Any]] = [
        {"type": "response.created", "response": head},
        {"type": "response.in_progress", "response": head},
        {"type": "response.output_item.added", "output_index": 0, "item": opening},
        *_item_events(item, reply),
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": f"response.{'incomplete' if final['status'] == 'incomplete' else 'completed'}", "response": final},
    ]
    return [sse({**p, "sequence_number": n}, event=str(p["type"])) for n, p in enumerate(payloads)]


class ResponsesDialect(OpenAIDialect):
    """``POST /v1/responses`` with ``Authorization: Bearer``."""

    name = "openai-responses"

    def parse_chat(self, body: Any, *, path_model: str | None, stream_route: bool) -> Turn:
        return parse_responses(body)

    def chat_body(self, turn: Turn, reply: Reply) -> dict[str, Any]:
        return responses_body(turn, reply)

    def chat_events(self, turn: Turn, reply: Reply) -> list[bytes]:
        return responses_events(turn, reply)
