"""OpenAI Responses request -> chat completions body (pure).

``instructions`` becomes a system message; ``input`` items become messages
(``function_call`` items join the assistant turn as ``tool_calls``,
``function_call_output`` items become ``tool`` messages); function tools,
``tool_choice``, ``text.format`` and sampling fields map one to one. Anything
that needs server-side state or a hosted tool is a clear 400, never dropped.
"""

from typing import Any

from switchboard.proxy.adapters.wire import as_object
from switchboard.proxy.errors import ApiError, invalid_param

STATEFUL_FIELDS = ("previous_response_id", "conversation")
_SAMPLING = ("temperature", "top_p", "user", "seed")


def reject_stateful(body: dict[str, Any]) -> None:
    """The gateway keeps no responses: a request that refers to one is a 400 that says so."""
    for name in STATEFUL_FIELDS:
        if body.get(name) is not None:
            raise invalid_param(
                name,
                f"'{name}' is not supported: this gateway is stateless and does not store responses; "
                "send the whole conversation in 'input'",
                code="unsupported_parameter",
            )
    if body.get("background") is True:
        raise invalid_param(
            "background",
            "'background' responses need server-side storage, which this gateway does not have",
            code="unsupported_parameter",
        )


def _text_of(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for index, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") not in ("input_text", "output_text", "text"):
                raise invalid_param(f"{where}[{index}]", f"{where}[{index}] must be a text part here")
            texts.append(str(part.get("text", "")))
        return "".join(texts)
    raise invalid_param(where, f"{where} must be a string or an array of text parts")


def _part(part: Any, where: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in ("input_text", "output_text", "text") and isinstance(part.get("text"), str):
        return {"type": "text", "text": part["text"]}
    if kind == "refusal" and isinstance(part.get("refusal"), str):
        return {"type": "text", "text": part["refusal"]}
    if kind == "input_image" and isinstance(part.get("image_url"), str):
        image: dict[str, Any] = {"url": part["image_url"]}
        if part.get("detail") in ("low", "high", "auto"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_image":
        raise invalid_param(where, f"{where}: only images given by 'image_url' (a URL or data URL) are supported")
    raise invalid_param(where, f"{where} has unsupported content type {kind!r}")


def _message(item: dict[str, Any], where: str) -> dict[str, Any]:
    role = item.get("role")
    if role not in ("user", "assistant", "system", "developer"):
        raise invalid_param(f"{where}.role", f"{where}.role must be user, assistant, system or developer")
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise invalid_param(f"{where}.content", f"{where}.content must be a string or an array of parts")
    if role in ("system", "developer"):
        return {"role": role, "content": _text_of(content, f"{where}.content")}
    parts = [_part(p, f"{where}.content[{i}]") for i, p in enumerate(content)]
    if role == "assistant":
        return {"role": role, "content": "".join(p.get("text", "") for p in parts if p["type"] == "text")}
    return {"role": role, "content": parts}


def _function_call(item: dict[str, Any], where: str) -> dict[str, Any]:
    call_id, name, arguments = item.get("call_id"), item.get("name"), item.get("arguments", "{}")
    if not isinstance(call_id, str) or not call_id or not isinstance(name, str) or not name:
        raise invalid_param(where, f"{where}: a function_call item needs 'call_id' and 'name'")
    if not isinstance(arguments, str):
        raise invalid_param(f"{where}.arguments", f"{where}.arguments must be a JSON string")
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _function_output(item: dict[str, Any], where: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ``tool`` message, and the output's images: chat tool messages carry text only, so the
    images follow in a user message after the run of tool messages instead of being lost."""
    call_id = item.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        raise invalid_param(f"{where}.call_id", f"{where}: a function_call_output item needs 'call_id'")
    output = item.get("output", "")
    parts = output if isinstance(output, list) else []
    images = [
        _part(p, f"{where}.output[{i}]") for i, p in enumerate(parts) if as_object(p).get("type") == "input_image"
    ]
    texts = [p for p in parts if as_object(p).get("type") != "input_image"]
    text = _text_of(texts if isinstance(output, list) else output, f"{where}.output")
    if images and not text:
        text = f"(the function returned {len(images)} image(s), attached below)"
    return {"role": "tool", "tool_call_id": call_id, "content": text}, images


def _add_item(messages: list[dict[str, Any]], item: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """Append one input item's message(s); return images a function output carried (due later)."""
    kind = item.get("type", "message")
    if kind == "message":
        messages.append(_message(item, where))
    elif kind == "function_call":
        call = _function_call(item, where)
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant":
            last.setdefault("tool_calls", []).append(call)
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        result, images = _function_output(item, where)
        messages.append(result)
        return images
    elif kind == "item_reference":
        raise invalid_param(where, f"{where}: item references need stored responses; this gateway is stateless")
    elif kind != "reasoning":  # an earlier turn's reasoning summary: chat upstreams cannot take it back
        raise invalid_param(where, f"{where} has unsupported item type {kind!r}")
    return []


def input_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """``instructions`` and ``input`` as chat messages, in order."""
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    elif instructions is not None and not isinstance(instructions, str):
        raise invalid_param("instructions", "'instructions' must be a string")
    raw = body.get("input")
    if isinstance(raw, str):
        return [*messages, {"role": "user", "content": raw}]
    if not isinstance(raw, list) or not raw:
        raise invalid_param("input", "'input' must be a string or a non-empty array of input items")
    images: list[dict[str, Any]] = []  # function output images, due after the run of tool messages
    for index, item in enumerate(raw):
        where = f"input[{index}]"
        if not isinstance(item, dict):
            raise invalid_param(where, f"{where} must be an object")
        if images and item.get("type") != "function_call_output":
            messages.append({"role": "user", "content": images})
            images = []
        images += _add_item(messages, item, where)
    if images:
        messages.append({"role": "user", "content": images})
    return messages


def _tools(body: dict[str, Any]) -> dict[str, Any]:
    tools = body.get("tools")
    if tools is None:
        return {}
    if not isinstance(tools, list):
        raise invalid_param("tools", "'tools' must be an array")
    functions = []
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(tool.get("name"), str):
            kind = tool.get("type") if isinstance(tool, dict) else None
            raise invalid_param(
                f"tools[{index}]",
                f"tools[{index}]: only function tools can be translated for this upstream (got {kind!r})",
            )
        function = {k: tool[k] for k in ("name", "description", "parameters", "strict") if tool.get(k) is not None}
        functions.append({"type": "function", "function": function})
    return {"tools": functions} if functions else {}


def _tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise invalid_param("tool_choice", "'tool_choice' must be 'auto', 'none', 'required' or a function choice")


def _response_format(text: Any) -> dict[str, Any] | None:
    fmt = text.get("format") if isinstance(text, dict) else None
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema" and isinstance(fmt.get("schema"), dict):
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if fmt.get(k) is not None}
        schema.setdefault("name", "response")
        return {"type": "json_schema", "json_schema": schema}
    raise invalid_param("text.format", "'text.format' must be text, json_object or json_schema with a schema")


def chat_body(body: dict[str, Any]) -> dict[str, Any]:
    """The chat completions body that asks an upstream what the Responses ``body`` asks."""
    reject_stateful(body)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(
            400, "'model' is required and must be a non-empty string", code="missing_required", param="model"
        )
    out: dict[str, Any] = {"model": model, "messages": input_messages(body)}
    out |= {k: body[k] for k in _SAMPLING if body.get(k) is not None}
    limit = body.get("max_output_tokens")
    if limit is not None:
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise invalid_param("max_output_tokens", "'max_output_tokens' must be a positive integer")
        out["max_tokens"] = limit
    out |= _tools(body)
    if "tools" in out:  # chat APIs reject tool settings without tools
        if body.get("tool_choice") is not None:
            out["tool_choice"] = _tool_choice(body["tool_choice"])
        if isinstance(body.get("parallel_tool_calls"), bool):
            out["parallel_tool_calls"] = body["parallel_tool_calls"]
    response_format = _response_format(body.get("text"))
    if response_format is not None:
        out["response_format"] = response_format
    effort = (body.get("reasoning") or {}).get("effort") if isinstance(body.get("reasoning"), dict) else None
    if isinstance(effort, str):
        out["reasoning_effort"] = effort
    if body.get("stream") is True:
        out["stream"] = True
    return out
