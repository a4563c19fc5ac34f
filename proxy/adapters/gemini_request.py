"""OpenAI chat body -> Gemini ``generateContent`` body (pure).

System messages become ``systemInstruction``; assistant turns are ``model``;
tool results become ``functionResponse`` parts named after the call they answer
(Gemini matches results by function name, OpenAI by call id).
"""

from typing import Any

from switchboard.proxy.adapters.base import AdapterRequestError
from switchboard.proxy.adapters.content import (
    Image,
    Part,
    functions_of,
    max_tokens_of,
    parts_of,
    stop_sequences,
    text_of,
    tool_calls_of,
    tool_choice_of,
)
from switchboard.proxy.adapters.turns import Blocks, TurnBuilder, system_and_turns

UNSUPPORTED_SCHEMA_KEYS = frozenset({"$schema", "additionalProperties", "$id", "$defs", "definitions"})


def _part(part: Part, where: str) -> dict[str, Any]:
    if isinstance(part, str):
        return {"text": part}
    if isinstance(part, Image) and part.data is not None:
        return {"inlineData": {"mimeType": part.mime_type, "data": part.data}}
    raise AdapterRequestError(f"{where}: gemini accepts images only as data: URLs")


def _tool_response(message: dict[str, Any], where: str, names: dict[str, str]) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    if call_id not in names:
        raise AdapterRequestError(f"{where}.tool_call_id {call_id!r} does not match an earlier assistant tool call")
    content = text_of(message.get("content"), where)
    return {"functionResponse": {"name": names[str(call_id)], "response": {"content": content}}}


def _contents(messages: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    call_names: dict[str, str] = {}  # tool call id -> function name, from earlier assistant turns

    def user(message: dict[str, Any], where: str) -> tuple[str, Blocks]:
        return "user", [_part(p, where) for p in parts_of(message.get("content"), where)]

    def assistant(message: dict[str, Any], where: str) -> tuple[str, Blocks]:
        calls = tool_calls_of(message, where)
        call_names.update({c.id: c.name for c in calls})
        parts = [_part(p, where) for p in parts_of(message.get("content"), where)]
        return "model", parts + [{"functionCall": {"name": c.name, "args": c.arguments}} for c in calls]

    def tool(message: dict[str, Any], where: str) -> tuple[str, Blocks]:
        return "user", [_tool_response(message, where, call_names)]

    builders: dict[str, TurnBuilder] = {"user": user, "assistant": assistant, "tool": tool}
    return system_and_turns(messages, builders, blocks_key="parts", family="gemini")


def clean_schema(schema: Any) -> Any:
    """JSON Schema without the keywords Gemini's ``parameters`` rejects."""
    if isinstance(schema, dict):
        return {k: clean_schema(v) for k, v in schema.items() if k not in UNSUPPORTED_SCHEMA_KEYS}
    if isinstance(schema, list):
        return [clean_schema(v) for v in schema]
    return schema


def _tools(body: dict[str, Any]) -> dict[str, Any]:
    functions = functions_of(body)
    choice = tool_choice_of(body)
    if not functions:
        return {}
    declarations = [
        {
            "name": f["name"],
            **({"description": f["description"]} if f.get("description") else {}),
            **({"parameters": clean_schema(f["parameters"])} if f.get("parameters") else {}),
        }
        for f in functions
    ]
    out: dict[str, Any] = {"tools": [{"functionDeclarations": declarations}]}
    if choice is not None:
        mode = {"auto": "AUTO", "none": "NONE", "required": "ANY"}.get(choice, "ANY")
        config: dict[str, Any] = {"mode": mode}
        if choice.startswith("function:"):
            config["allowedFunctionNames"] = [choice.removeprefix("function:")]
        out["toolConfig"] = {"functionCallingConfig": config}
    return out


_SAMPLING = {
    "temperature": "temperature",
    "top_p": "topP",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
    "seed": "seed",
    "n": "candidateCount",
}


def _generation_config(body: dict[str, Any], default_max_tokens: int | None) -> dict[str, Any]:
    config = {key: body[name] for name, key in _SAMPLING.items() if isinstance(body.get(name), int | float)}
    if config.get("candidateCount", 1) != 1:
        raise AdapterRequestError("gemini adapter returns one choice; n must be 1")
    max_tokens = max_tokens_of(body) or default_max_tokens
    if max_tokens:
        config["maxOutputTokens"] = max_tokens
    stops = stop_sequences(body)
    if stops:
        config["stopSequences"] = stops
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        schema = (response_format.get("json_schema") or {}).get("schema")
        if schema:
            config["responseJsonSchema"] = schema
    return config


def gemini_body(body: dict[str, Any], default_max_tokens: int | None) -> dict[str, Any]:
    system, contents = _contents(body["messages"])
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    out |= _tools(body)
    config = _generation_config(body, default_max_tokens)
    if config:
        out["generationConfig"] = config
    return out
