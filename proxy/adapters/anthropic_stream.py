"""Anthropic stream events -> OpenAI chat completion chunks, incrementally.

message_start opens the reply (id, input usage); text and tool_use blocks turn
into content and ``tool_calls`` deltas (one OpenAI index per tool_use block);
message_delta carries the stop reason and output usage; message_stop ends it.
"""

from typing import Any

from switchboard.proxy.adapters.anthropic_answer import ERROR_STATUSES, FAMILY, FINISH_REASONS, read_usage
from switchboard.proxy.adapters.base import UpstreamProtocolError, Usage
from switchboard.proxy.adapters.chat_stream import ChatChunkStream, chunk_object, usage_chunk_object
from switchboard.proxy.adapters.errors import stream_error
from switchboard.proxy.adapters.sse import SSEDecoder
from switchboard.proxy.adapters.wire import as_int, load_object

_INPUT_KEYS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


class AnthropicStream(ChatChunkStream):
    def __init__(self, public_model: str, created: int, *, include_usage: bool) -> None:
        self._model = public_model
        self._created = created
        self._include_usage = include_usage
        self._decoder = SSEDecoder(FAMILY)
        self._id: str | None = None
        self._tool_index: dict[int, int] = {}
        self._input: dict[str, Any] = {}
        self._output = 0
        self._stopped = False

    @property
    def usage(self) -> Usage | None:
        return read_usage(self._input, self._output) if self._id is not None else None

    def feed_chunks(self, chunk: bytes) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for _, data in self._decoder.feed(chunk):
            if not self._stopped:
                out += self._on(load_object(FAMILY, data, "stream event"))
        return out

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        assert self._id is not None
        return chunk_object(self._id, self._created, self._model, delta, finish)

    def _on(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        kind = event.get("type")
        if kind == "error":
            error = event.get("error") or {}
            raise stream_error(FAMILY, error, ERROR_STATUSES.get(str(error.get("type")), 502))
        if kind == "ping":
            return []
        if kind == "message_start":
            return self._start(event.get("message") or {})
        if self._id is None:
            raise UpstreamProtocolError(f"anthropic stream sent {kind!r} before message_start")
        if kind == "content_block_start":
            return self._block_start(as_int(event.get("index")), event.get("content_block") or {})
        if kind == "content_block_delta":
            return self._block_delta(as_int(event.get("index")), event.get("delta") or {})
        if kind == "message_delta":
            return self._message_delta(event)
        if kind == "message_stop":
            self._stopped = True
        return []

    def _start(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        self._id = str(message.get("id") or "msg")
        usage = message.get("usage") or {}
        self._input = {k: usage[k] for k in _INPUT_KEYS if k in usage}
        self._output = as_int(usage.get("output_tokens"))
        return [self._chunk({"role": "assistant", "content": ""})]

    def _block_start(self, index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
        if block.get("type") == "tool_use":
            tool = self._tool_index[index] = len(self._tool_index)
            head = {"index": tool, "id": block.get("id"), "type": "function"}
            return [self._chunk({"tool_calls": [{**head, "function": {"name": block.get("name"), "arguments": ""}}]})]
        if block.get("type") == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        return []

    def _block_delta(self, index: int, delta: dict[str, Any]) -> list[dict[str, Any]]:
        if delta.get("type") == "text_delta" and delta.get("text"):
            return [self._chunk({"content": delta["text"]})]
        if delta.get("type") == "input_json_delta" and delta.get("partial_json"):
            if index not in self._tool_index:
                raise UpstreamProtocolError(f"anthropic stream sent input_json_delta for unknown block {index}")
            arguments = {"arguments": delta["partial_json"]}
            return [self._chunk({"tool_calls": [{"index": self._tool_index[index], "function": arguments}]})]
        return []

    def _message_delta(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        usage = event.get("usage") or {}
        if "output_tokens" in usage:
            self._output = as_int(usage["output_tokens"])
        if (
            any(k in usage for k in _INPUT_KEYS)
            and read_usage(usage).prompt_tokens >= read_usage(self._input).prompt_tokens
        ):
            self._input = {k: usage[k] for k in _INPUT_KEYS if k in usage}
        reason = (event.get("delta") or {}).get("stop_reason")
        return [self._chunk({}, FINISH_REASONS.get(str(reason), "stop"))] if reason else []

    def finish_chunks(self) -> list[dict[str, Any]]:
        if not self._stopped:
            where = " in the middle of an event" if self._decoder.mid_event else ""
            raise UpstreamProtocolError(f"anthropic stream ended{where} before message_stop")
        if not self._include_usage or self._id is None:
            return []
        return [usage_chunk_object(self._id, self._created, self._model, read_usage(self._input, self._output))]
