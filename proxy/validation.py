"""Validation of client requests against the parts of OpenAI's API that matter.

The models check only what the proxy and upstreams depend on (model, message
shapes, sampling ranges, tools) and allow every other field, so parameters
OpenAI adds later pass through untouched. The original dict, not the model, is
forwarded: validation never rewrites what the client sent.
"""

from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from switchboard.proxy.errors import ApiError, invalid_param


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


def parse_embeddings(data: dict[str, Any]) -> EmbeddingsRequest:
    try:
        return EmbeddingsRequest.model_validate(data)
    except ValidationError as e:
        raise _raise_first(e) from None
