"""What an answer says about itself, read in the client's API (pure): id, finish reasons, output messages.

The serve path is one for chat completions, Responses and Messages, but the
answer an attempt hands its span is already in the client's API: a chat
completion's ``choices``, a Responses ``response`` (``status``,
``incomplete_details``, ``output`` items) or an Anthropic ``message``
(``stop_reason``, ``content`` blocks). ``reader_for(endpoint)`` picks the
reader; each gives ``gen_ai.response.id`` and ``gen_ai.response.finish_reasons``
and, for profiles that capture content, ``gen_ai.output.messages``.

Finish reasons are the API's own words (``stop``; Anthropic's ``end_turn``;
for Responses ``completed`` or the ``incomplete_details.reason``, e.g.
``max_output_tokens``), as the conventions' per-provider instrumentations do.
Streams are read without parsing every event: chat scans for
``finish_reason``, Responses parses only its one terminal event, Messages only
``message_start`` and ``message_delta`` (and the text deltas when content is captured).
"""

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_OUTPUT_MESSAGES,
    GEN_AI_RESPONSE_FINISH_REASONS,
    GEN_AI_RESPONSE_ID,
)

from switchboard.proxy.telemetry.content import MAX_CONTENT_CHARS, StreamedOutput, encoded, output_attributes, text_part

_FINISH_REASON = re.compile(rb'"finish_reason":\s*"([A-Za-z_]{1,40})"')
_RESPONSES_TERMINAL = (b"event: response.completed\n", b"event: response.incomplete\n", b"event: response.failed\n")


def _identified(answer: Mapping[str, Any], reasons: list[str]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if isinstance(answer.get("id"), str):
        attributes[GEN_AI_RESPONSE_ID] = answer["id"]
    if reasons:
        attributes[GEN_AI_RESPONSE_FINISH_REASONS] = reasons
    return attributes


def _data(event: bytes) -> Any:
    """The JSON payload of one SSE event (``event:`` line optional); None when it has none."""
    start = event.find(b"data: {")
    if start < 0:
        return None
    try:
        return orjson.loads(event[start + 6 :])
    except orjson.JSONDecodeError:
        return None


class StreamReader(ABC):
    """Watches the events relayed to the client; ``capture``: also rebuild the output messages."""

    def __init__(self, capture: bool) -> None:
        self.capture = capture
        self.response_id: str | None = None
        self.finish_reasons: list[str] = []

    @abstractmethod
    def feed(self, events: Iterable[bytes]) -> None: ...

    @abstractmethod
    def output(self) -> dict[str, str]:
        """``gen_ai.output.messages`` of what was streamed (only meaningful with ``capture``)."""

    def attributes(self) -> dict[str, Any]:
        attributes: dict[str, Any] = {}
        if self.response_id is not None:
            attributes[GEN_AI_RESPONSE_ID] = self.response_id
        if self.finish_reasons:
            attributes[GEN_AI_RESPONSE_FINISH_REASONS] = self.finish_reasons
        return attributes


class ChatStreamReader(StreamReader):
    def __init__(self, capture: bool) -> None:
        super().__init__(capture)
        self._text = StreamedOutput() if capture else None
        self._first = True

    def feed(self, events: Iterable[bytes]) -> None:
        for event in events:
            if self._first and event.startswith(b"data: {"):  # the id is the same in every chunk: parse one
                self._first = False
                payload = _data(event)
                found = payload.get("id") if isinstance(payload, dict) else None
                self.response_id = found if isinstance(found, str) else None
            self.finish_reasons.extend(m.decode() for m in _FINISH_REASON.findall(event))
        if self._text is not None:
            self._text.feed(events)

    def output(self) -> dict[str, str]:
        return self._text.attributes() if self._text is not None else {}


def responses_finish_reasons(response: Mapping[str, Any]) -> list[str]:
    """A ``response``'s ``status``, or why it is incomplete (``max_output_tokens``, ``content_filter``)."""
    status = response.get("status")
    details = response.get("incomplete_details")
    if status == "incomplete" and isinstance(details, dict) and isinstance(details.get("reason"), str):
        return [details["reason"]]
    return [status] if isinstance(status, str) else []


def responses_output(response: Mapping[str, Any]) -> dict[str, str]:
    """The ``output`` items as one assistant message: text parts and tool calls (reasoning is left out)."""
    parts: list[dict[str, Any]] = []
    for item in response.get("output") or ():
        if not isinstance(item, dict):
            continue
        if item.get("type") == "message":
            for piece in item.get("content") or ():
                if isinstance(piece, dict) and isinstance(piece.get("text"), str):
                    parts.append(text_part(piece["text"]))
                elif isinstance(piece, dict):
                    parts.append({"type": str(piece.get("type", "unknown"))})
        elif item.get("type") == "function_call":
            call = {"type": "tool_call", "id": item.get("call_id"), "name": item.get("name")}
            parts.append({**call, "arguments": item.get("arguments")})
    reasons = responses_finish_reasons(response)
    message = {"role": "assistant", "parts": parts, "finish_reason": reasons[0] if reasons else None}
    return {GEN_AI_OUTPUT_MESSAGES: encoded([message])} if parts else {}


class ResponsesStreamReader(StreamReader):
    """Everything is in the terminal event's ``response``: only that event is parsed."""

    def __init__(self, capture: bool) -> None:
        super().__init__(capture)
        self._final: Mapping[str, Any] | None = None

    def feed(self, events: Iterable[bytes]) -> None:
        for event in events:
            if not event.startswith(_RESPONSES_TERMINAL):
                continue
            payload = _data(event)
            response = payload.get("response") if isinstance(payload, dict) else None
            if isinstance(response, dict):
                self._final = response
                self.response_id = response["id"] if isinstance(response.get("id"), str) else None
                self.finish_reasons = responses_finish_reasons(response)

    def output(self) -> dict[str, str]:
        return responses_output(self._final) if self._final is not None else {}


def messages_output(message: Mapping[str, Any]) -> dict[str, str]:
    """An Anthropic ``message``'s content blocks: text parts and tool calls (thinking is left out)."""
    parts: list[dict[str, Any]] = []
    for block in message.get("content") or ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            parts.append(text_part(block["text"]))
        elif block.get("type") == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            parts.append(
                {"type": "tool_call", "id": block.get("id"), "name": block.get("name"), "arguments": arguments}
            )
        elif block.get("type") not in ("thinking", "redacted_thinking"):
            parts.append({"type": str(block.get("type", "unknown"))})
    out = {"role": "assistant", "parts": parts, "finish_reason": message.get("stop_reason")}
    return {GEN_AI_OUTPUT_MESSAGES: encoded([out])} if parts else {}


class MessagesStreamReader(StreamReader):
    """``message_start`` (the id), ``message_delta`` (the stop reason); text deltas only when capturing."""

    def __init__(self, capture: bool) -> None:
        super().__init__(capture)
        self._texts: list[str] = []
        self._size = 0

    def feed(self, events: Iterable[bytes]) -> None:
        for event in events:
            if event.startswith(b"event: message_start\n"):
                payload = _data(event)
                message = payload.get("message") if isinstance(payload, dict) else None
                if isinstance(message, dict) and isinstance(message.get("id"), str):
                    self.response_id = message["id"]
            elif event.startswith(b"event: message_delta\n"):
                payload = _data(event)
                delta = payload.get("delta") if isinstance(payload, dict) else None
                if isinstance(delta, dict) and isinstance(delta.get("stop_reason"), str):
                    self.finish_reasons.append(delta["stop_reason"])
            elif self.capture and event.startswith(b"event: content_block_delta\n"):
                self._text_delta(_data(event))

    def _text_delta(self, payload: Any) -> None:
        delta = payload.get("delta") if isinstance(payload, dict) else None
        if isinstance(delta, dict) and isinstance(delta.get("text"), str) and self._size <= MAX_CONTENT_CHARS:
            self._texts.append(delta["text"])
            self._size += len(delta["text"])

    def output(self) -> dict[str, str]:
        if not self._texts and not self.finish_reasons:
            return {}
        reason = self.finish_reasons[-1] if self.finish_reasons else None
        message = {"role": "assistant", "parts": [text_part("".join(self._texts))], "finish_reason": reason}
        return {GEN_AI_OUTPUT_MESSAGES: encoded([message])}


def chat_identity(answer: Mapping[str, Any]) -> dict[str, Any]:
    choices = answer.get("choices")
    items = choices if isinstance(choices, list) else []
    reasons = [c["finish_reason"] for c in items if isinstance(c, dict) and isinstance(c.get("finish_reason"), str)]
    return _identified(answer, reasons)


def responses_identity(response: Mapping[str, Any]) -> dict[str, Any]:
    return _identified(response, responses_finish_reasons(response))


def messages_identity(message: Mapping[str, Any]) -> dict[str, Any]:
    reason = message.get("stop_reason")
    return _identified(message, [reason] if isinstance(reason, str) else [])


@dataclass(frozen=True, slots=True)
class AnswerReader:
    """How one client API's answers and streams read."""

    identity: Callable[[Mapping[str, Any]], dict[str, Any]]
    """``gen_ai.response.id`` and ``gen_ai.response.finish_reasons`` of a complete answer."""
    output: Callable[[Mapping[str, Any]], dict[str, str]]
    """``gen_ai.output.messages`` of a complete answer (for profiles that capture content)."""
    stream: Callable[[bool], StreamReader]
    """A reader of the client's events; its argument: capture the output too."""


CHAT = AnswerReader(chat_identity, output_attributes, ChatStreamReader)
RESPONSES = AnswerReader(responses_identity, responses_output, ResponsesStreamReader)
MESSAGES = AnswerReader(messages_identity, messages_output, MessagesStreamReader)


def reader_for(endpoint: str) -> AnswerReader:
    """The reader of a proxy endpoint's answers (``responses``, ``messages``...; chat for the rest)."""
    if endpoint == "responses":
        return RESPONSES
    if endpoint.startswith("messages"):
        return MESSAGES
    return CHAT
