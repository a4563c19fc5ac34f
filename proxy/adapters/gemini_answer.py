"""Reading a Gemini ``GenerateContentResponse`` (a whole answer or one stream event): parts, finish reason, usage."""

from dataclasses import dataclass, field
from typing import Any

import orjson

from switchboard.proxy.adapters.base import Usage
from switchboard.proxy.adapters.wire import as_int

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
