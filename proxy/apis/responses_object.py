"""OpenAI ``response`` objects (pure): built from a chat answer, or an OpenAI upstream's own renamed.

``Envelope`` carries what a response echoes back from its request (tools,
instructions, sampling...), so non-streaming answers and every streaming
snapshot (``response.created`` ... ``response.completed``) agree.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from switchboard.proxy.adapters.base import Decoded, UpstreamProtocolError, Usage
from switchboard.proxy.adapters.wire import as_int, as_object, load_object, relabelled

_ID_SAFE = re.compile(r"[^A-Za-z0-9_-]")
INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}


def response_id(upstream_id: str) -> str:
    """A ``resp_`` id derived from the upstream's (so logs can be matched), safe for item ids too."""
    bare = upstream_id.removeprefix("chatcmpl-").removeprefix("msg_").removeprefix("resp_")
    return "resp_" + (_ID_SAFE.sub("", bare)[:48] or "0")


@dataclass(frozen=True, slots=True)
class Envelope:
    """The request-side fields of a response object, fixed for the whole answer."""

    model: str
    echo: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, body: Mapping[str, Any], model: str) -> "Envelope":
        """One dict literal (built once per Responses request): no comprehension, no helper call per field."""
        get = body.get
        tools, text = get("tools"), get("text")
        metadata = get("metadata")
        echo = {
            "instructions": get("instructions"),
            "max_output_tokens": get("max_output_tokens"),
            "temperature": get("temperature"),
            "top_p": get("top_p"),
            "user": get("user"),
            "reasoning": get("reasoning"),
            "metadata": metadata if isinstance(metadata, dict) else {},
            "tools": tools if isinstance(tools, list) else [],
            "tool_choice": get("tool_choice", "auto"),
            "parallel_tool_calls": get("parallel_tool_calls", True),
            "text": text if isinstance(text, dict) else {"format": {"type": "text"}},
            "truncation": get("truncation", "disabled"),
        }
        return cls(model, echo)

    def response(self, head: dict[str, Any]) -> dict[str, Any]:
        """The whole response object: ``head``'s members, then the echoed request fields."""
        return head | self.echo

    def head(
        self,
        rid: str,
        created_at: int,
        status: str,
        output: list[dict[str, Any]],
        usage: Usage | None,
        *,
        finish_reason: str | None = None,
    ) -> dict[str, Any]:
        """The response object's own members, before the echoed request fields (``echo_tail`` encodes those)."""
        reason = INCOMPLETE_REASONS.get(finish_reason or "")
        if status == "completed" and reason is not None:
            status = "incomplete"
        return {
            "id": rid,
            "object": "response",
            "created_at": created_at,
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": {"reason": reason} if status == "incomplete" else None,
            "model": self.model,
            "output": output,
            "previous_response_id": None,
            "store": False,
            "usage": response_usage(usage) if usage is not None else None,
        }

    def echo_tail(self) -> bytes:
        """The echoed fields as the end of an encoded response: ``orjson.dumps(head)[:-1] + echo_tail()`` is
        ``orjson.dumps(response)``, so a stream encodes its request's fields (tools...) once, not per snapshot."""
        return b"," + orjson.dumps(self.echo)[1:] if self.echo else b"}"


def response_usage(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    content = (
        [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}] if status == "completed" else []
    )
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": content}


def function_call_item(
    item_id: str, call_id: str, name: str, arguments: str, status: str = "completed"
) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def output_of(rid: str, message: dict[str, Any]) -> list[dict[str, Any]]:
    """A chat completion's assistant message as Responses output items."""
    suffix = rid.removeprefix("resp_")
    output: list[dict[str, Any]] = []
    content = message.get("content")
    if isinstance(content, str) and content:
        output.append(message_item(f"msg_{suffix}", content))
    for index, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            raise UpstreamProtocolError(f"chat tool_calls[{index}] has no function")
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            arguments = orjson.dumps(arguments or {}).decode()
        call_id = str(call.get("id") or f"call_{index}")
        output.append(function_call_item(f"fc_{suffix}_{index}", call_id, str(function.get("name")), arguments))
    return output


def from_chat(envelope: Envelope, completion: dict[str, Any], usage: Usage, created_at: int) -> dict[str, Any]:
    """A non-streaming chat completion as a Responses ``response``."""
    choices = completion.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = as_object(choice.get("message"))
    rid = response_id(str(completion.get("id") or "chat"))
    output = output_of(rid, message)
    return envelope.response(
        envelope.head(rid, created_at, "completed", output, usage, finish_reason=choice.get("finish_reason"))
    )


def read_usage(raw: Any) -> Usage | None:
    """Usage of a Responses ``usage`` object (input tokens include cached ones)."""
    if not isinstance(raw, dict):
        return None
    cached = as_int(as_object(raw.get("input_tokens_details")).get("cached_tokens"))
    reasoning = as_int(as_object(raw.get("output_tokens_details")).get("reasoning_tokens"))
    return Usage(
        as_int(raw.get("input_tokens")),
        as_int(raw.get("output_tokens")),
        cached_tokens=cached,
        reasoning_tokens=reasoning,
    )


def native_response(raw: bytes, public_model: str) -> Decoded:
    """An OpenAI upstream's (non-streaming) ``response`` object, renamed to the public model."""
    payload = load_object("openai", raw, "responses answer")
    if payload.get("object") != "response" or not isinstance(payload.get("output"), list):
        raise UpstreamProtocolError("openai responses answer is not a response object with an output array")
    return payload, relabelled(payload, raw, public_model), read_usage(payload.get("usage")) or Usage()
