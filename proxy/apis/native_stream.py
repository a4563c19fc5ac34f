"""Streams already in the client's API (Responses from OpenAI, Messages from Anthropic), passed through.

Each event is decoded (so a broken upstream is a protocol error, not garbage
for the client), watched for usage and the stream's end, and sent as
``event: <type>`` + ``data: <json>``: re-encoded when it names the model (renamed
to the public one), as the upstream wrote it otherwise (most events: the deltas).
"""

from abc import ABC, abstractmethod
from typing import Any

import orjson

from switchboard.proxy.adapters.base import UpstreamProtocolError, Usage
from switchboard.proxy.adapters.sse import SSEDecoder
from switchboard.proxy.adapters.wire import load_object


def event_bytes(payload: dict[str, Any]) -> bytes:
    """One named SSE event whose name is the payload's ``type`` (both APIs name every event so)."""
    return b"event: " + str(payload["type"]).encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


class NativeStream(ABC):
    """The shared pass-through; subclasses say what an event means in ``observe``."""

    family = ""
    last_event = ""
    """The event that completes a stream: ending before it is a truncation."""

    def __init__(self, public_model: str) -> None:
        self.model = public_model
        self._decoder = SSEDecoder(self.family)
        self.usage: Usage | None = None
        self.done = False
        self.output_seen = False

    def feed(self, chunk: bytes) -> list[bytes]:
        out: list[bytes] = []
        for _, data in self._decoder.feed(chunk):
            if self.done or data.strip() == b"[DONE]":
                continue
            payload = load_object(self.family, data, "stream event")
            kind = payload.get("type")
            if not isinstance(kind, str) or "\n" in kind or "\r" in kind:
                raise UpstreamProtocolError(f"{self.family} stream event has no 'type' (or not one line)")
            if not self.output_seen:
                self.output_seen = self.is_output(kind)
            if self.observe(kind, payload) or data.find(b"\n") != -1 or data.find(b"\r") != -1:
                out.append(event_bytes(payload))
            else:  # nothing to change: the upstream's JSON as it came
                out.append(b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n")
        return out

    @abstractmethod
    def is_output(self, kind: str) -> bool:
        """Whether an event of this ``kind`` carries output, so that sending it commits the stream."""

    @abstractmethod
    def observe(self, kind: str, payload: dict[str, Any]) -> bool:
        """Rename the model, learn usage, set ``done``; raise ``UpstreamError`` for an error event.

        True when ``payload`` was changed (it is re-encoded); the others go out as the upstream wrote them.
        """

    def finish(self) -> list[bytes]:
        if not self.done:
            where = " in the middle of an event" if self._decoder.mid_event else ""
            raise UpstreamProtocolError(f"{self.family} stream ended{where} before {self.last_event}")
        return []
