"""An incremental Server-Sent Events decoder for upstream streams.

Bytes may arrive split anywhere (even one at a time); only the unfinished line
is kept between calls, so memory stays bounded by the largest single event.
Lines end with ``\\n`` or ``\\r\\n`` (what OpenAI, Anthropic and Gemini send).
"""

from dataclasses import dataclass

from switchboard.proxy.adapters.base import UpstreamProtocolError

MAX_EVENT_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str | None
    data: str


class SSEDecoder:
    def __init__(self, family: str) -> None:
        self._family = family
        self._buffer = bytearray()
        self._event: str | None = None
        self._data: list[str] = []
        self._pending_bytes = 0

    @property
    def mid_event(self) -> bool:
        """True when the stream stopped inside an event (a line or an event not yet terminated)."""
        return bool(self._buffer) or bool(self._data) or self._event is not None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        self._buffer += chunk
        events: list[SSEEvent] = []
        start = 0
        while (end := self._buffer.find(b"\n", start)) != -1:
            line = bytes(self._buffer[start:end]).removesuffix(b"\r")
            start = end + 1
            event = self._line(line)
            if event is not None:
                events.append(event)
        del self._buffer[:start]
        if len(self._buffer) + self._pending_bytes > MAX_EVENT_BYTES:
            raise UpstreamProtocolError(f"{self._family} stream event exceeds {MAX_EVENT_BYTES} bytes")
        return events

    def _line(self, raw: bytes) -> SSEEvent | None:
        if not raw:
            return self._dispatch()
        try:
            line = raw.decode()
        except UnicodeDecodeError:
            raise UpstreamProtocolError(f"{self._family} stream line is not valid UTF-8: {raw[:80]!r}") from None
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
            self._pending_bytes += len(raw)
        elif name == "event":
            self._event = value
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event = None
            return None
        event = SSEEvent(self._event, "\n".join(self._data))
        self._event, self._data, self._pending_bytes = None, [], 0
        return event
