"""Anthropic Messages event streams (pure, incremental; whole messages: ``messages_object``).

``MessagesEncoder`` turns any adapter's chat chunks into Anthropic's event stream (message_start,
ping, content_block_start/delta/stop, message_delta, message_stop), which the
``anthropic`` SDK's ``messages.stream`` accumulates unchanged.
``NativeMessagesStream`` relays an Anthropic upstream's own stream.
"""

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import orjson

from switchboard.proxy.adapters.anthropic_answer import ERROR_STATUSES, read_usage
from switchboard.proxy.adapters.base import UpstreamProtocolError, Usage
from switchboard.proxy.adapters.chat_stream import ChatChunkStream
from switchboard.proxy.adapters.errors import stream_error
from switchboard.proxy.adapters.wire import as_int, as_object
from switchboard.proxy.apis.chat_chunks import ChunkEncoder, ChunkView, ToolDelta
from switchboard.proxy.apis.messages_object import message_id, message_usage
from switchboard.proxy.apis.messages_request import STOP_REASONS
from switchboard.proxy.apis.native_stream import NativeStream, event_bytes

PING = b'event: ping\ndata: {"type":"ping"}\n\n'
_TEXT_DELTA = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
    b'"delta":{"type":"text_delta","text":%b}}\n\n'
)
"""A text block's delta, the event of nearly every chunk: the bytes ``event_bytes`` makes of it, formatted."""
_MESSAGE_START = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":%b,"type":"message","role":"assistant",'
    b'"model":%b,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0,'
    b'"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}}\n\n'
)
_TEXT_START = (
    b'event: content_block_start\ndata: {"type":"content_block_start","index":%d,'
    b'"content_block":{"type":"text","text":""}}\n\n'
)
_STOP = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":%d}\n\n'
_MESSAGE_DELTA = (
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":%b,"stop_sequence":null},'
    b'"usage":%b}\n\n'
)
_MESSAGE_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
"""The events of every stream, formatted: the bytes ``event_bytes`` makes of their objects."""
_OUTPUT_EVENTS = frozenset({"content_block_delta", "content_block_stop", "message_delta", "message_stop"})
"""Block deltas and stops and the message's end are output; message_start, a block start and ping are not."""


def error_event(message: str, kind: str = "api_error") -> bytes:
    return event_bytes({"type": "error", "error": {"type": kind, "message": message}})


class MessagesEncoder(ChunkEncoder):
    """Chat chunks (from ``inner``, created with usage on) -> Anthropic stream events."""

    def __init__(self, inner: ChatChunkStream, model: str, clock: Callable[[], float]) -> None:
        super().__init__(inner)
        self._model = model
        self._started = False
        self._block: int | None = None
        self._block_kind: str | None = None
        self._tool_blocks: dict[int, int] = {}
        self._blocks = 0
        self._finish_reason: str | None = None
        self.output_seen = False
        """A block delta or stop went out (``_OUTPUT_EVENTS``)."""

    def _encode_view(self, view: ChunkView) -> list[bytes]:
        out: list[bytes] = []
        if not self._started:
            self._started = True
            out += [_MESSAGE_START % (orjson.dumps(message_id(view.id or "chat")), orjson.dumps(self._model)), PING]
        if view.text:
            out += self._encode_text(view.text)
        for tool in view.tools:
            out += self._tool(tool)
        self._finish_reason = view.finish_reason or self._finish_reason
        return out

    def _open(self, kind: str, block: dict[str, Any] | None) -> list[bytes]:
        """Close the open block, start a ``kind`` one: ``block`` (None: an empty text block)."""
        out = self._close()
        index = self._block = self._blocks
        self._block_kind = kind
        self._blocks += 1
        if block is None:
            return [*out, _TEXT_START % index]
        return [*out, event_bytes({"type": "content_block_start", "index": index, "content_block": block})]

    def _close(self) -> list[bytes]:
        if self._block is None:
            return []
        index, self._block, self._block_kind = self._block, None, None
        self.output_seen = True
        return [_STOP % index]

    def _delta(self, delta: dict[str, Any]) -> bytes:
        self.output_seen = True
        return event_bytes({"type": "content_block_delta", "index": self._block, "delta": delta})

    def _encode_text(self, text: str) -> list[bytes]:
        out = [] if self._block_kind == "text" else self._open("text", None)
        self.output_seen = True
        return [*out, _TEXT_DELTA % (self._block, orjson.dumps(text))]

    def _tool(self, tool: ToolDelta) -> list[bytes]:
        out: list[bytes] = []
        if tool.index not in self._tool_blocks:
            block = {"type": "tool_use", "id": tool.id or f"toolu_{tool.index}", "name": tool.name or "", "input": {}}
            out = self._open("tool_use", block)
            self._tool_blocks[tool.index] = self._blocks - 1
        elif self._tool_blocks[tool.index] != self._block:
            raise UpstreamProtocolError("upstream interleaved the arguments of two tool calls")
        if tool.arguments:
            out.append(self._delta({"type": "input_json_delta", "partial_json": tool.arguments}))
        return out

    def finish(self) -> list[bytes]:
        out = self._encode(self._inner.finish_chunks())
        if not self._started:
            raise UpstreamProtocolError("upstream stream ended without any chunk")
        usage = self._inner.usage or Usage()
        stop = orjson.dumps(STOP_REASONS.get(str(self._finish_reason), "end_turn"))
        closing = _MESSAGE_DELTA % (stop, orjson.dumps(message_usage(usage)))
        return [*out, *self._close(), closing, _MESSAGE_STOP]

    def fail(self, message: str) -> list[bytes]:
        return [error_event(message)]


class NativeMessagesStream(NativeStream):
    """An Anthropic upstream's stream, passed through with the public model name."""

    family = "anthropic"
    last_event = "message_stop"

    def is_output(self, kind: str) -> bool:
        return kind in _OUTPUT_EVENTS

    def observe(self, kind: str, payload: dict[str, Any]) -> bool:
        if kind == "error":
            error = as_object(payload.get("error"))
            raise stream_error("anthropic", error, ERROR_STATUSES.get(str(error.get("type")), 502))
        if kind == "message_start" and isinstance(payload.get("message"), dict):
            message = payload["message"]
            message["model"] = self.model
            usage = as_object(message.get("usage"))
            self.usage = read_usage(usage)
            return True
        if self.usage is None and kind != "ping":
            raise UpstreamProtocolError(f"anthropic stream sent {kind!r} before message_start")
        if kind == "message_delta" and isinstance(payload.get("usage"), dict):
            delta, before = payload["usage"], self.usage or Usage()
            output = as_int(delta["output_tokens"]) if "output_tokens" in delta else before.completion_tokens
            after = read_usage(delta, output)
            self.usage = (
                after if after.prompt_tokens > before.prompt_tokens else replace(before, completion_tokens=output)
            )
        elif kind == "message_stop":
            self.done = True
        return False

    def fail(self, message: str) -> list[bytes]:
        return [error_event(message)]
