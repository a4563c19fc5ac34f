"""Gemini response translation: whole responses and ``alt=sse`` streams.

Every stream event is a complete ``GenerateContentResponse`` holding the next
parts; function calls arrive whole, so each becomes one ``tool_calls`` delta.
The stream is complete once a candidate reports a ``finishReason``.
"""

from dataclasses import dataclass, field
from typing import Any

import orjson

from switchboard.proxy.adapters.base import UpstreamProtocolError, Usage
from switchboard.proxy.adapters.errors import stream_error
from switchboard.proxy.adapters.sse import SSEDecoder
from switchboard.proxy.adapters.wire import DONE_EVENT, as_int, chunk, load_object, usage_chunk

FAMILY = "gemini"
FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}


def read_usage(payload: dict[str, Any]) -> Usage | None:
    meta = payload.get("usageMetadata")
    if not isinstance(meta, dict):
        return None
    thoughts = as_int(meta.get("thoughtsTokenCount"))  # apart from candidatesTokenCount
    completion = as_int(meta.get("candidatesTokenCount")) + thoughts
    cached = as_int(meta.get("cachedContentTokenCount"))  # part of promptTokenCount
    return Usage(as_int(meta.get("promptTokenCount")), completion, cached_tokens=cached, reasoning_tokens=thoughts)


def candidate_of(payload: dict[str, Any]) -> dict[str, Any] | None:
    candidates = payload.get("candidates")
    if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict):
        return candidates[0]
    return None


def finish_reason(candidate: dict[str, Any] | None, *, has_tool_calls: bool, blocked: bool = False) -> str:
    if blocked:
        return "content_filter"
    reason = FINISH_REASONS.get(str((candidate or {}).get("finishReason")), "stop")
    return "tool_calls" if has_tool_calls and reason == "stop" else reason


@dataclass(slots=True)
class PartsReader:
    """Turns candidate parts into text and tool calls, numbering calls across a whole answer."""

    call_prefix: str
    calls: int = field(default=0)

    def read(self, candidate: dict[str, Any] | None) -> tuple[str, list[dict[str, Any]]]:
        parts = ((candidate or {}).get("content") or {}).get("parts") or []
        text, calls = "", []
        for part in parts:
            if not isinstance(part, dict) or part.get("thought"):
                continue
            if isinstance(part.get("text"), str):
                text += part["text"]
            elif isinstance(part.get("functionCall"), dict):
                calls.append(self._call(part["functionCall"]))
        return text, calls

    def _call(self, call: dict[str, Any]) -> dict[str, Any]:
        index, self.calls = self.calls, self.calls + 1
        return {
            "index": index,
            "id": str(call.get("id") or f"{self.call_prefix}_{index}"),
            "type": "function",
            "function": {"name": call.get("name"), "arguments": orjson.dumps(call.get("args") or {}).decode()},
        }


class GeminiStream:
    def __init__(self, public_model: str, completion_id: str, created: int, *, include_usage: bool) -> None:
        self._model = public_model
        self._id = completion_id
        self._created = created
        self._include_usage = include_usage
        self._decoder = SSEDecoder(FAMILY)
        self._reader = PartsReader(call_prefix=f"call_{completion_id}")
        self._usage: Usage | None = None
        self._started = False
        self._finished = False

    @property
    def usage(self) -> Usage | None:
        return self._usage

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for event in self._decoder.feed(data):
            if not self._finished:
                out += self._on(load_object(FAMILY, event.data, "stream event"))
        return out

    def _on(self, payload: dict[str, Any]) -> list[bytes]:
        if "error" in payload:
            raise stream_error(FAMILY, payload["error"])
        self._usage = read_usage(payload) or self._usage
        out = (
            [] if self._started else [chunk(self._id, self._created, self._model, {"role": "assistant", "content": ""})]
        )
        self._started = True
        candidate = candidate_of(payload)
        text, calls = self._reader.read(candidate)
        if text:
            out.append(chunk(self._id, self._created, self._model, {"content": text}))
        if calls:
            out.append(chunk(self._id, self._created, self._model, {"tool_calls": calls}))
        blocked = bool((payload.get("promptFeedback") or {}).get("blockReason"))
        if (candidate or {}).get("finishReason") or blocked:
            self._finished = True
            reason = finish_reason(candidate, has_tool_calls=self._reader.calls > 0, blocked=blocked)
            out.append(chunk(self._id, self._created, self._model, {}, reason))
        return out

    def finish(self) -> list[bytes]:
        if not self._finished:
            where = " in the middle of an event" if self._decoder.mid_event else ""
            raise UpstreamProtocolError(f"gemini stream ended{where} before a finishReason")
        closing = [DONE_EVENT]
        if self._include_usage:
            closing.insert(0, usage_chunk(self._id, self._created, self._model, self._usage or Usage()))
        return closing
