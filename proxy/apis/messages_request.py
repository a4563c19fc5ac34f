"""Anthropic Messages request -> chat completions body (pure).

``system`` becomes a system message; ``tool_use`` blocks become the assistant's
``tool_calls`` and ``tool_result`` blocks become ``tool`` messages placed right
after it (chat's order); images become ``image_url`` parts. Thinking blocks of
earlier turns are dropped (chat upstreams cannot take them back); server tools
and documents cannot be expressed in chat and are a clear 400.
"""

from typing import Any

import orjson

from switchboard.proxy.adapters.wire import as_object
from switchboard.proxy.errors import ApiError, invalid_param

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}
_DROPPED_BLOCKS = frozenset({"thinking", "redacted_thinking"})


def _text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if not isinstance(content, list):
        raise invalid_param(where, f"{where} must be a string or an array of text blocks")
    texts = []
    for index, block in enumerate(content):
        if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(block.get("text"), str):
            raise invalid_param(f"{where}.{index}", f"{where}.{index}: only text blocks are supported here")
        texts.append(block["text"])
    return "\n\n".join(texts) if where == "system" else "".join(texts)


def _image(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = as_object(block.get("source"))
    if source.get("type") == "base64" and isinstance(source.get("data"), str):
        url = f"data:{source.get('media_type', 'image/png')};base64,{source['data']}"
    elif source.get("type") == "url" and isinstance(source.get("url"), str):
        url = source["url"]
    else:
        raise invalid_param(f"{where}.source", f"{where}.source must be a base64 or url image source")
    return {"type": "image_url", "image_url": {"url": url}}


def _tool_result(block: dict[str, Any], where: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ``tool`` message, and the result's images: chat tool messages carry text only, so
    images (a screenshot, a file the tool read) follow in the user turn instead of being lost."""
    tool_use_id = block.get("tool_use_id")
    if not isinstance(tool_use_id, str) or not tool_use_id:
        raise invalid_param(f"{where}.tool_use_id", f"{where}.tool_use_id is required")
    content = block.get("content")
    blocks = content if isinstance(content, list) else []
    images = [_image(b, f"{where}.content.{i}") for i, b in enumerate(blocks) if as_object(b).get("type") == "image"]
    texts = [b for b in blocks if as_object(b).get("type") != "image"]
    text = _text(texts if isinstance(content, list) else content, f"{where}.content")
    if images and not text:
        text = f"(the tool returned {len(images)} image(s), attached below)"
    if block.get("is_error") is True:
        text = f"Error: {text}"
    return {"role": "tool", "tool_call_id": tool_use_id, "content": text}, images


def _tool_call(block: dict[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
        raise invalid_param(where, f"{where}: a tool_use block needs 'id' and 'name'")
    arguments = orjson.dumps(as_object(block.get("input"))).decode()
    return {"id": block["id"], "type": "function", "function": {"name": block["name"], "arguments": arguments}}


def _user(content: list[Any], where: str) -> list[dict[str, Any]]:
    """Tool results first (they answer the previous assistant turn), then the user's own parts."""
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for index, block in enumerate(content):
        at = f"{where}.{index}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            parts.append({"type": "text", "text": block["text"]})
        elif kind == "image":
            parts.append(_image(block, at))
        elif kind == "tool_result":
            result, images = _tool_result(block, at)
            results.append(result)
            parts += images
        elif kind not in _DROPPED_BLOCKS:
            raise invalid_param(at, f"{at}: content block type {kind!r} cannot be translated for this upstream")
    return results + ([{"role": "user", "content": parts}] if parts else [])


def _assistant(content: list[Any], where: str) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for index, block in enumerate(content):
        at = f"{where}.{index}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_use":
            calls.append(_tool_call(block, at))
        elif kind not in _DROPPED_BLOCKS:
            raise invalid_param(at, f"{at}: content block type {kind!r} cannot be translated for this upstream")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        message["tool_calls"] = calls
    return message


def chat_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    system = body.get("system")
    out = [{"role": "system", "content": _text(system, "system")}] if system else []
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise invalid_param("messages", "messages: a non-empty array of messages is required")
    for index, message in enumerate(raw):
        where = f"messages.{index}"
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            raise invalid_param(f"{where}.role", f"{where}.role: Input should be 'user' or 'assistant'")
        content = message.get("content")
        if isinstance(content, str):
            out.append({"role": role, "content": content})
            continue
        if not isinstance(content, list):
            raise invalid_param(f"{where}.content", f"{where}.content must be a string or an array of blocks")
        if role == "user":
            out += _user(content, f"{where}.content")
        else:
            out.append(_assistant(content, f"{where}.content"))
    return out


def _tools(body: dict[str, Any]) -> dict[str, Any]:
    tools = body.get("tools")
    if not tools:
        return {}
    if not isinstance(tools, list):
        raise invalid_param("tools", "tools must be an array")
    out = []
    for index, tool in enumerate(tools):
        if (
            not isinstance(tool, dict)
            or not isinstance(tool.get("name"), str)
            or tool.get("type") not in (None, "custom")
        ):
            kind = tool.get("type") if isinstance(tool, dict) else None
            raise invalid_param(
                f"tools.{index}",
                f"tools.{index}: only custom (client) tools can be translated for this upstream (got {kind!r})",
            )
        function = {"name": tool["name"], "parameters": tool.get("input_schema") or {"type": "object"}}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        out.append({"type": "function", "function": function})
    return {"tools": out}


def _tool_choice(choice: Any) -> dict[str, Any]:
    if not isinstance(choice, dict):
        raise invalid_param("tool_choice", "tool_choice must be an object")
    kind = choice.get("type")
    mapped: Any = {"auto": "auto", "any": "required", "none": "none"}.get(str(kind))
    if kind == "tool" and isinstance(choice.get("name"), str):
        mapped = {"type": "function", "function": {"name": choice["name"]}}
    if mapped is None:
        raise invalid_param("tool_choice.type", "tool_choice.type must be auto, any, tool or none")
    out: dict[str, Any] = {"tool_choice": mapped}
    if choice.get("disable_parallel_tool_use") is True:
        out["parallel_tool_calls"] = False
    return out


def max_tokens(body: dict[str, Any]) -> int:
    value = body.get("max_tokens")
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise invalid_param("max_tokens", "max_tokens: Field required (a positive integer)")
    return value


def require_model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "model: Field required (a non-empty string)", param="model")
    return model


def chat_body(body: dict[str, Any]) -> dict[str, Any]:
    """The chat completions body asking an upstream what the Messages ``body`` asks."""
    out: dict[str, Any] = {
        "model": require_model(body),
        "messages": chat_messages(body),
        "max_tokens": max_tokens(body),
    }
    for name in ("temperature", "top_p"):
        if isinstance(body.get(name), int | float) and not isinstance(body.get(name), bool):
            out[name] = body[name]
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise invalid_param("stop_sequences", "stop_sequences must be an array of strings")
        out["stop"] = stops
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        out["user"] = metadata["user_id"]
    out |= _tools(body)
    if body.get("tool_choice") is not None and "tools" in out:
        out |= _tool_choice(body["tool_choice"])
    if body.get("stream") is True:
        out["stream"] = True
    return out
