"""OpenAI chat body -> Anthropic Messages body (pure).

System and developer messages become ``system``; tool results become
``tool_result`` blocks in a user turn; consecutive turns of one role are merged
because Anthropic requires alternating roles; ``max_tokens`` is always sent.
"""

from typing import Any

from switchboard.proxy.adapters.anthropic_answer import FAMILY
from switchboard.proxy.adapters.base import AdapterRequestError
from switchboard.proxy.adapters.content import (
    Image,
    Part,
    functions_of,
    max_tokens_of,
    parts_of,
    reject_multiple_choices,
    stop_sequences,
    text_of,
    tool_calls_of,
    tool_choice_of,
)
from switchboard.proxy.adapters.turns import Blocks, TurnBuilder, system_and_turns

DEFAULT_MAX_TOKENS = 4096


def _block(part: Part) -> dict[str, Any]:
    if isinstance(part, str):
        return {"type": "text", "text": part}
    if isinstance(part, Image) and part.data is not None:
        return {"type": "image", "source": {"type": "base64", "media_type": part.mime_type, "data": part.data}}
    return {"type": "image", "source": {"type": "url", "url": part.url}}


def _assistant_blocks(message: dict[str, Any], where: str) -> list[dict[str, Any]]:
    blocks = [_block(p) for p in parts_of(message.get("content"), where)]
    return blocks + [
        {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in tool_calls_of(message, where)
    ]


def _tool_result(message: dict[str, Any], where: str) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise AdapterRequestError(f"{where}.tool_call_id is required for tool messages")
    return {"type": "tool_result", "tool_use_id": call_id, "content": text_of(message.get("content"), where)}


def _user(message: dict[str, Any], where: str) -> tuple[str, Blocks]:
    return "user", [_block(p) for p in parts_of(message.get("content"), where)]


def _assistant(message: dict[str, Any], where: str) -> tuple[str, Blocks]:
    return "assistant", _assistant_blocks(message, where)


def _tool(message: dict[str, Any], where: str) -> tuple[str, Blocks]:
    return "user", [_tool_result(message, where)]


_TURN_BUILDERS: dict[str, TurnBuilder] = {"user": _user, "assistant": _assistant, "tool": _tool}


def _tools(body: dict[str, Any]) -> dict[str, Any]:
    functions = functions_of(body)
    out: dict[str, Any] = {}
    if functions:
        out["tools"] = [
            {
                "name": f["name"],
                **({"description": f["description"]} if f.get("description") else {}),
                "input_schema": f.get("parameters") or {"type": "object", "properties": {}},
            }
            for f in functions
        ]
    choice = tool_choice_of(body)
    mapped: dict[str, Any] | None = None
    if choice is not None:
        mapped = {"auto": {"type": "auto"}, "none": {"type": "none"}, "required": {"type": "any"}}.get(choice)
        mapped = mapped or {"type": "tool", "name": choice.removeprefix("function:")}
    if body.get("parallel_tool_calls") is False and functions:
        mapped = {**(mapped or {"type": "auto"}), "disable_parallel_tool_use": True}
    if mapped is not None and functions:
        out["tool_choice"] = mapped
    return out


def _sampling(body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(body.get("temperature"), int | float):
        out["temperature"] = min(float(body["temperature"]), 1.0)  # Anthropic's range is [0, 1]
    if isinstance(body.get("top_p"), int | float):
        out["top_p"] = body["top_p"]
    stops = stop_sequences(body)
    if stops:
        out["stop_sequences"] = stops
    if isinstance(body.get("user"), str):
        out["metadata"] = {"user_id": body["user"]}
    return out


def anthropic_body(body: dict[str, Any], model: str, default_max_tokens: int | None, *, stream: bool) -> dict[str, Any]:
    reject_multiple_choices(body, FAMILY)
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") not in (None, "text"):
        raise AdapterRequestError(f"response_format {response_format.get('type')!r} is not supported by anthropic")
    system, turns = system_and_turns(body["messages"], _TURN_BUILDERS, blocks_key="content", family=FAMILY)
    out: dict[str, Any] = {
        "model": model,
        "max_tokens": max_tokens_of(body) or default_max_tokens or DEFAULT_MAX_TOKENS,
        "messages": turns,
    }
    if system:
        out["system"] = "\n\n".join(system)
    out |= _sampling(body) | _tools(body)
    if stream:
        out["stream"] = True
    return out
