"""Streams already in the client's API (Responses from OpenAI, Messages from Anthropic), passed through.

Each event is decoded (so a broken upstream is a protocol error, not garbage
for the client), watched for usage and the stream's end, re-emitted with the
public model name, and re-encoded as ``event: <type>`` + ``data: <json>``.
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

    def feed(self, chunk: bytes) -> list[bytes]:
        out: list[bytes] = []
        for event in self._decoder.feed(chunk):
            if self.done or event.data.strip() == "[DONE]":
                continue
            payload = load_object(self.family, event.data, "stream event")
            kind = payload.get("type")
            if not isinstance(kind, str):
                raise UpstreamProtocolError(f"{self.family} stream event has no 'type'")
            self.observe(kind, payload)
            out.append(event_bytes(payload))
        return out

    @abstractmethod
    def observe(self, kind: str, payload: dict[str, Any]) -> None:
        """Rename the model, learn usage, set ``done``; raise ``UpstreamError`` for an error event."""

    def finish(self) -> list[bytes]:
        if not self.done:
            where = " in the middle of an event" if self._decoder.mid_event else ""
            raise UpstreamProtocolError(f"{self.family} stream ended{where} before {self.last_event}")
        return []
