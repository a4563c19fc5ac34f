"""Reading OpenAI message content and tool calls, shared by the non-OpenAI adapters."""

import re
from dataclasses import dataclass
from typing import Any

import orjson

from switchboard.proxy.adapters.base import AdapterRequestError

_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+);base64,(?P<data>.*)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Image:
    """An ``image_url`` part: inline base64 data, or a remote URL."""

    url: str
    mime_type: str | None = None
    data: str | None = None


Part = str | Image


def parts_of(content: Any, where: str) -> list[Part]:
    """Text and images of an OpenAI ``content`` (string, null, or list of parts), in order."""
    if content is None:
        return []
    if isinstance(content, str):
        return [content] if content else []
    if not isinstance(content, list):
        raise AdapterRequestError(f"{where}.content must be a string, null or an array of parts")
    parts: list[Part] = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            parts += [part["text"]] if part["text"] else []
        elif kind == "image_url" and isinstance(part.get("image_url"), dict):
            parts.append(_image(str(part["image_url"].get("url", ""))))
        else:
            raise AdapterRequestError(f"{where}.content[{index}] has unsupported part type {kind!r}")
    return parts


def _image(url: str) -> Image:
    match = _DATA_URL.match(url)
    return Image(url, match["mime"], match["data"]) if match else Image(url)


def text_of(content: Any, where: str) -> str:
    """Only the text of a content (system prompts and tool results carry no images)."""
    parts = parts_of(content, where)
    if any(isinstance(p, Image) for p in parts):
        raise AdapterRequestError(f"{where}.content may only contain text")
    return "".join(p for p in parts if isinstance(p, str))


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


def tool_calls_of(message: dict[str, Any], where: str) -> list[ToolCall]:
    """An assistant message's ``tool_calls`` with their JSON arguments parsed."""
    calls: list[ToolCall] = []
    for index, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise AdapterRequestError(f"{where}.tool_calls[{index}] needs function.name")
        raw = function.get("arguments") or "{}"
        try:
            arguments = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise AdapterRequestError(f"{where}.tool_calls[{index}].function.arguments is not valid JSON") from None
        if not isinstance(arguments, dict):
            raise AdapterRequestError(f"{where}.tool_calls[{index}].function.arguments must be a JSON object")
        calls.append(ToolCall(str(call.get("id") or f"call_{index}"), function["name"], arguments))
    return calls


def functions_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``function`` objects of the client's ``tools`` (only function tools exist in chat)."""
    functions: list[dict[str, Any]] = []
    for index, tool in enumerate(body.get("tools") or []):
        function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise AdapterRequestError(f"tools[{index}] must be a function tool with a name")
        functions.append(function)
    return functions


def max_tokens_of(body: dict[str, Any]) -> int | None:
    value = body.get("max_completion_tokens", body.get("max_tokens"))
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise AdapterRequestError("max_tokens must be a positive integer")
    return value


def stop_sequences(body: dict[str, Any]) -> list[str] | None:
    stop = body.get("stop")
    if stop is None:
        return None
    sequences = [stop] if isinstance(stop, str) else stop
    if not isinstance(sequences, list) or not all(isinstance(s, str) for s in sequences):
        raise AdapterRequestError("stop must be a string or an array of strings")
    return sequences


def reject_multiple_choices(body: dict[str, Any], family: str) -> None:
    if body.get("n", 1) not in (1, None):
        raise AdapterRequestError(f"{family} upstreams return one choice; n must be 1")


def tool_choice_of(body: dict[str, Any]) -> str | None:
    """``"auto" | "none" | "required"`` or, for a forced function, ``"function:<name>"``."""
    choice = body.get("tool_choice")
    if choice is None:
        return None
    if choice in ("auto", "none", "required"):
        return str(choice)
    if isinstance(choice, dict) and isinstance((choice.get("function") or {}).get("name"), str):
        return "function:" + str(choice["function"]["name"])
    raise AdapterRequestError("tool_choice must be 'auto', 'none', 'required' or a function choice")
