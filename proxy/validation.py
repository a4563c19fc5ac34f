"""Validation of client requests against the parts of OpenAI's API that matter.

The models check only what the proxy and upstreams depend on (model, message
shapes, sampling ranges, tools) and allow every other field, so parameters
OpenAI adds later pass through untouched. The original dict, not the model, is
forwarded: validation never rewrites what the client sent.
"""

import re
from typing import Annotated, Any, Literal, NamedTuple

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from switchboard.proxy.errors import ApiError, invalid_param
from switchboard.proxy.routing.tokens import SKIPPED_KEYS, content_chars, estimate_prompt_tokens, prompt_tokens_of


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ContentPart(_Open):
    type: StrictStr = Field(min_length=1)


class FunctionCall(_Open):
    name: StrictStr = Field(min_length=1)
    arguments: StrictStr


class ToolCall(_Open):
    id: StrictStr
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: StrictStr | list[ContentPart] | None = None
    name: StrictStr | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: StrictStr | None = None


class FunctionDefinition(_Open):
    name: StrictStr = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: StrictStr | None = None
    parameters: dict[str, Any] | None = None


class Tool(_Open):
    type: Literal["function"]
    function: FunctionDefinition


class StreamOptions(_Open):
    include_usage: StrictBool = False


Number = Annotated[float, Field(strict=True)]
"""A JSON number (integers too); a numeric string such as ``"0.5"`` is a client error, not coerced."""


class ChatRequest(_Open):
    model: StrictStr = Field(min_length=1)
    messages: list[Message] = Field(min_length=1)
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    n: StrictInt = Field(1, ge=1, le=128)
    temperature: Number | None = Field(None, ge=0, le=2)
    top_p: Number | None = Field(None, ge=0, le=1)
    max_tokens: StrictInt | None = Field(None, ge=1)
    max_completion_tokens: StrictInt | None = Field(None, ge=1)
    tools: list[Tool] | None = None
    user: StrictStr | None = None

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage


class EmbeddingsRequest(_Open):
    model: StrictStr = Field(min_length=1)
    input: StrictStr | list[StrictStr] | list[StrictInt] | list[list[StrictInt]]
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: StrictInt | None = Field(None, ge=1)
    user: StrictStr | None = None


def decode_json_object(raw: bytes) -> dict[str, Any]:
    """The request body as a dict, or a 400 naming what is wrong with it."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise ApiError(400, f"request body is not valid JSON: {e}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ApiError(400, "request body must be a JSON object", code="invalid_json")
    return data


def _param_path(loc: tuple[int | str, ...]) -> str:
    # Union members add their type name to the loc (e.g. "str", "list[...]"); keep only real field names.
    parts = [p for p in loc if isinstance(p, int) or ("[" not in p and p not in ("str", "int"))]
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")


def _raise_first(error: ValidationError) -> ApiError:
    first = error.errors()[0]
    param = _param_path(first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    return invalid_param(param or None, f"invalid value for '{param}': {message}" if param else message)


def parse_chat(data: dict[str, Any]) -> ChatRequest:
    try:
        return ChatRequest.model_validate(data)
    except ValidationError as e:
        raise _raise_first(e) from None


class ChatFlags(NamedTuple):
    """What serving needs to know of a valid chat request (the body itself is forwarded as sent)."""

    stream: bool
    include_usage: bool
    prompt_tokens: int
    """The router's estimate of the prompt (``routing.tokens``), counted in the pass that validates the messages."""


_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]+")  # fullmatch: "$" would let a final newline through
_OPTIONAL_STRINGS = frozenset({"name", "tool_call_id"})


def chat_flags(data: dict[str, Any]) -> ChatFlags:
    """Validate a chat request as ``parse_chat`` does, and say how it is to be answered.

    Plain requests (the shapes that make up nearly all traffic) are checked here field by field,
    without building a model, in one pass over the messages that also counts what the token
    estimate counts; anything else, valid or not, goes through ``ChatRequest`` (``_by_model``),
    so a bad request gets exactly the error ``parse_chat`` gives it.
    """
    model = data.get("model")
    messages = data.get("messages")
    if type(model) is not str or not model or type(messages) is not list or not messages:
        return _by_model(data)
    chars = 0
    for message in messages:
        if (
            type(message) is dict
            and len(message) == 2
            and type(content := message.get("content")) is str
            and type(role := message.get("role")) is str
            and role in _ROLES
        ):
            chars += len(content)  # a role and a text, nearly every message: no call, no field loop
            continue
        counted = _plain_message(message)
        if counted is None:
            return _by_model(data)
        chars += counted
    # Flags by tuple.__new__, as NamedTuple._make does: the generated __new__ is a Python call per request.
    if len(data) == 2:  # model and messages only: no option to check
        return tuple.__new__(ChatFlags, (False, False, prompt_tokens_of(chars, len(messages), None)))
    options = _plain_options(data)
    if options is None:
        return _by_model(data)
    stream, include_usage, tools = options
    return tuple.__new__(ChatFlags, (stream, include_usage, prompt_tokens_of(chars, len(messages), tools)))


def _by_model(data: dict[str, Any]) -> ChatFlags:
    """The flags of a request the plain checks were unsure of: ``ChatRequest`` decides (and names the error)."""
    chat = parse_chat(data)
    return ChatFlags(chat.stream, chat.include_usage, estimate_prompt_tokens(data["messages"], data.get("tools")))


def _plain_options(data: dict[str, Any]) -> tuple[bool, bool, Any] | None:
    """``stream``, ``include_usage`` and ``tools`` of a body whose other declared options ``ChatRequest``
    certainly accepts; None when unsure. One walk over the keys the body has, not a look-up per option."""
    stream, include_usage, tools = False, False, None
    for key, value in data.items():
        if key == "stream":
            if type(value) is not bool:
                return None
            stream = value
        elif key == "n":
            if type(value) is not int or not 1 <= value <= 128:
                return None
        elif key in ("max_tokens", "max_completion_tokens"):
            if value is not None and (type(value) is not int or value < 1):
                return None
        elif key in ("temperature", "top_p"):
            most = 2 if key == "temperature" else 1
            if value is not None and (type(value) not in (int, float) or not 0 <= value <= most):
                return None
        elif key == "stream_options":
            if value is not None:
                asked = value.get("include_usage", False) if type(value) is dict else None
                if type(asked) is not bool:
                    return None
                include_usage = asked
        elif key == "tools":
            if value is not None and not _plain_tools(value):
                return None
            tools = value
        elif key == "user" and value is not None and type(value) is not str:
            return None
    return stream, include_usage, tools


def _plain_message(message: Any) -> int | None:
    """The characters ``content_chars`` counts in a message ``Message`` certainly accepts; None when unsure.

    One walk over the message's fields checks each and counts its text (the same total as ``content_chars``).
    """
    if type(message) is not dict or type(role := message.get("role")) is not str or role not in _ROLES:
        return None
    chars = 0
    for key, value in message.items():
        if type(value) is str:
            if key == "tool_calls":
                return None
            if key not in SKIPPED_KEYS:
                chars += len(value)
        elif value is None:
            continue
        elif key == "content":
            if type(value) is not list:
                return None
            for part in value:
                if type(part) is not dict or type(kind := part.get("type")) is not str or not kind:
                    return None
                chars += content_chars(part)
        elif key == "tool_calls":
            if type(value) is not list or not all(_plain_tool_call(call) for call in value):
                return None
            chars += content_chars(value)
        elif key in _OPTIONAL_STRINGS:
            return None
        elif key not in SKIPPED_KEYS:
            chars += content_chars(value)
    return chars


def _plain_tool_call(call: Any) -> bool:
    if type(call) is not dict or type(call.get("id")) is not str or call.get("type", "function") != "function":
        return False
    function = call.get("function")
    return (
        type(function) is dict
        and type(name := function.get("name")) is str
        and bool(name)
        and type(function.get("arguments")) is str
    )


def _plain_tools(tools: Any) -> bool:
    if type(tools) is not list:
        return False
    for tool in tools:
        if (
            type(tool) is not dict
            or tool.get("type") != "function"
            or type(function := tool.get("function")) is not dict
        ):
            return False
        name, description = function.get("name"), function.get("description")
        if type(name) is not str or not 1 <= len(name) <= 64 or _FUNCTION_NAME.fullmatch(name) is None:
            return False
        parameters = function.get("parameters")
        if (description is not None and type(description) is not str) or (
            parameters is not None and (type(parameters) is not dict or any(type(k) is not str for k in parameters))
        ):
            return False
    return True


def parse_embeddings(data: dict[str, Any]) -> EmbeddingsRequest:
    try:
        return EmbeddingsRequest.model_validate(data)
    except ValidationError as e:
        raise _raise_first(e) from None
