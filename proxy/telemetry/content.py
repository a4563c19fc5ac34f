"""Prompts and completions as GenAI span attributes, for profiles with ``tracing.captureContent`` (pure).

``gen_ai.input.messages`` / ``gen_ai.output.messages`` in the conventions'
shape: a JSON array of ``{"role", "parts": [{"type": "text", "content"}]}``
(output messages add ``finish_reason``). Non-text parts are named by their type
only: images and audio never go into a span.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_INPUT_MESSAGES,
    GEN_AI_OUTPUT_MESSAGES,
)

MAX_CONTENT_CHARS = 64 * 1024
"""Per attribute: collectors and backends refuse huge attributes. Each text part is cut to a quarter of
this, and the oldest messages are dropped until the JSON fits: the attribute always stays valid JSON."""
_MAX_PART_CHARS = MAX_CONTENT_CHARS // 4
_TEXT_TYPES = ("text", "input_text", "output_text")  # chat and Anthropic; Responses input and output


def text_part(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content[:_MAX_PART_CHARS]}


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [text_part(content)]
    parts: list[dict[str, Any]] = []
    for item in content if isinstance(content, list) else ():
        if isinstance(item, dict) and item.get("type") in _TEXT_TYPES and isinstance(item.get("text"), str):
            parts.append(text_part(item["text"]))
        elif isinstance(item, dict):
            parts.append({"type": str(item.get("type", "unknown"))})
    return parts


def _message(message: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"role": str(message.get("role", "user")), "parts": _parts(message.get("content"))}
    for call in message.get("tool_calls") or ():
        if isinstance(call, dict) and isinstance(call.get("function"), dict):
            function = call["function"]
            out["parts"].append(
                {
                    "type": "tool_call",
                    "id": call.get("id"),
                    "name": function.get("name"),
                    "arguments": function.get("arguments"),
                }
            )
    return out


def encoded(messages: Sequence[Mapping[str, Any]]) -> str:
    text = orjson.dumps(messages).decode()
    while len(text) > MAX_CONTENT_CHARS and len(messages) > 1:
        messages = messages[1:]
        text = orjson.dumps(messages).decode()
    return text


def input_attributes(body: Mapping[str, Any]) -> dict[str, str]:
    """The request's messages: chat's or Anthropic's ``messages``, else ``input`` (embeddings' strings as
    user text, a Responses request's message items; its other items are named by their type only)."""
    messages = body.get("messages")
    raw = messages if isinstance(messages, list) else body.get("input")
    items = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    converted = [_item(m) for m in items if isinstance(m, str | dict)]
    return {GEN_AI_INPUT_MESSAGES: encoded(converted)} if converted else {}


def _item(item: str | Mapping[str, Any]) -> dict[str, Any]:
    """A message, an input string, or a Responses input item (a tool call, its output)."""
    if isinstance(item, str):
        return {"role": "user", "parts": [text_part(item)]}
    if "role" in item:
        return _message(item)
    kind = str(item.get("type", "unknown"))
    if kind == "function_call":
        call = {"type": "tool_call", "id": item.get("call_id"), "name": item.get("name")}
        return {"role": "assistant", "parts": [{**call, "arguments": item.get("arguments")}]}
    if kind == "function_call_output":
        output = item.get("output")
        response = {"type": "tool_call_response", "id": item.get("call_id")}
        return {"role": "tool", "parts": [{**response, "response": output if isinstance(output, str) else None}]}
    return {"role": "user", "parts": [{"type": kind}]}


def output_attributes(answer: Mapping[str, Any]) -> dict[str, str]:
    """A complete chat answer's choices as output messages."""
    choices = answer.get("choices")
    messages = []
    for choice in choices if isinstance(choices, list) else ():
        if isinstance(choice, dict) and isinstance(choice.get("message"), dict):
            message = _message(choice["message"])
            message["finish_reason"] = choice.get("finish_reason")
            messages.append(message)
    return {GEN_AI_OUTPUT_MESSAGES: encoded(messages)} if messages else {}


@dataclass
class StreamedOutput:
    """Rebuilds the output messages of a streamed answer from the OpenAI chunk events relayed to the client."""

    texts: dict[int, list[str]] = field(default_factory=dict)
    finish: dict[int, str] = field(default_factory=dict)
    size: int = 0

    def feed(self, events: Iterable[bytes]) -> None:
        for event in events:
            if not event.startswith(b"data: {") or self.size > MAX_CONTENT_CHARS:
                continue
            try:
                payload = orjson.loads(event[6:])
            except orjson.JSONDecodeError:
                continue
            for choice in payload.get("choices") or () if isinstance(payload, dict) else ():
                self._choice(choice)

    def _choice(self, choice: Any) -> None:
        if not isinstance(choice, dict):
            return
        index = choice.get("index", 0) if isinstance(choice.get("index", 0), int) else 0
        delta = choice.get("delta")
        if isinstance(delta, dict) and isinstance(delta.get("content"), str):
            self.texts.setdefault(index, []).append(delta["content"])
            self.size += len(delta["content"])
        if isinstance(choice.get("finish_reason"), str):
            self.finish[index] = choice["finish_reason"]

    def attributes(self) -> dict[str, str]:
        indexes = sorted(set(self.texts) | set(self.finish))
        messages = [
            {
                "role": "assistant",
                "parts": [text_part("".join(self.texts.get(i, [])))],
                "finish_reason": self.finish.get(i),
            }
            for i in indexes
        ]
        return {GEN_AI_OUTPUT_MESSAGES: encoded(messages)} if messages else {}
