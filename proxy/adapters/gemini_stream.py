"""Gemini ``alt=sse`` streams -> OpenAI chat completion chunks (whole answers: ``gemini_answer``).

Every stream event is a complete ``GenerateContentResponse`` holding the next
parts; function calls arrive whole, so each becomes one ``tool_calls`` delta.
The stream is complete once a candidate reports a ``finishReason``.
"""

from typing import Any

from switchboard.proxy.adapters.base import UpstreamProtocolError, Usage
from switchboard.proxy.adapters.chat_stream import ChatChunkStream, chunk_object, usage_chunk_object
from switchboard.proxy.adapters.errors import stream_error
from switchboard.proxy.adapters.gemini_answer import FAMILY, PartsReader, candidate_of, finish_reason, read_usage
from switchboard.proxy.adapters.sse import SSEDecoder
from switchboard.proxy.adapters.wire import load_object


class GeminiStream(ChatChunkStream):
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

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return chunk_object(self._id, self._created, self._model, delta, finish)

    def feed_chunks(self, chunk: bytes) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for _, data in self._decoder.feed(chunk):
            if not self._finished:
                out += self._on(load_object(FAMILY, data, "stream event"))
        return out

    def _on(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        if "error" in payload:
            raise stream_error(FAMILY, payload["error"])
        self._usage = read_usage(payload) or self._usage
        out = [] if self._started else [self._chunk({"role": "assistant", "content": ""})]
        self._started = True
        candidate = candidate_of(payload)
        text, calls = self._reader.read(candidate)
        if text:
            out.append(self._chunk({"content": text}))
        if calls:
            out.append(self._chunk({"tool_calls": calls}))
        blocked = bool((payload.get("promptFeedback") or {}).get("blockReason"))
        if (candidate or {}).get("finishReason") or blocked:
            self._finished = True
            reason = finish_reason(candidate, has_tool_calls=self._reader.calls > 0, blocked=blocked)
            out.append(self._chunk({}, reason))
        return out

    def finish_chunks(self) -> list[dict[str, Any]]:
        if not self._finished:
            where = " in the middle of an event" if self._decoder.mid_event else ""
            raise UpstreamProtocolError(f"gemini stream ended{where} before a finishReason")
        if not self._include_usage:
            return []
        return [usage_chunk_object(self._id, self._created, self._model, self._usage or Usage())]
