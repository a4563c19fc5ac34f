"""Gemini ``alt=sse`` streams -> OpenAI chat completion chunks (whole answers: ``gemini_answer``).

Every stream event is a complete ``GenerateContentResponse`` holding the next
parts; function calls arrive whole, so each becomes one ``tool_calls`` delta.
The stream is complete once a candidate reports a ``finishReason``.
"""

from typing import Any

from switchboard.proxy.adapters.base import UpstreamProtocolError, Usage
from switchboard.proxy.adapters.errors import stream_error
from switchboard.proxy.adapters.gemini_answer import FAMILY, PartsReader, candidate_of, finish_reason, read_usage
from switchboard.proxy.adapters.sse import SSEDecoder
from switchboard.proxy.adapters.wire import DONE_EVENT, chunk, load_object, stream_failure, usage_chunk


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

    def fail(self, message: str) -> list[bytes]:
        return stream_failure(message)
