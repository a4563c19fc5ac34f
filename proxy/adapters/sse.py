"""An incremental Server-Sent Events decoder for upstream streams.

Bytes may arrive split anywhere (even one at a time); only the unfinished event
is kept between calls, so memory stays bounded by the largest single event.
Lines end with ``\\n`` or ``\\r\\n`` (what OpenAI, Anthropic and Gemini send).

It runs once per streamed chunk, so the common shape costs no Python loop per
line: ``\\r\\n`` is folded to ``\\n`` per chunk, complete events are cut at blank
lines by ``bytes.split``, and an event that is one ``data: ...`` line (every
OpenAI-style chunk) or ``event: ...`` plus one ``data: ...`` line (Anthropic's) is
taken whole; any other event is read line by line. Data stays bytes: the JSON
parser every caller runs next reads bytes and checks their UTF-8 itself, and a
relayed event goes out without a decode and an encode. Searches are ``find``, never
``in``: CPython's ``bytes.__contains__`` first tries its argument as an integer and
raises and clears a TypeError for every bytes needle (three times the cost); per-event
prefixes are compared as slices, since ``startswith`` parses its arguments the slow way.
"""

from switchboard.proxy.adapters.base import UpstreamProtocolError

MAX_EVENT_BYTES = 8 * 1024 * 1024

SSEEvent = tuple[str | None, bytes]
"""(the ``event:`` name or None, the data): a plain tuple, the cheapest object to build once per streamed event."""


class SSEDecoder:
    def __init__(self, family: str) -> None:
        self._family = family
        self._buffer = bytearray()
        """The unfinished event, with ``\\n`` line ends only."""
        self._held_cr = False
        """The last chunk ended with ``\\r``: its ``\\n`` may start the next one."""

    @property
    def idle(self) -> bool:
        """Between events: nothing of an unfinished event is held (the next bytes start a new one)."""
        return not self._buffer and not self._held_cr

    @property
    def mid_event(self) -> bool:
        """True when the stream stopped inside an event (a line or an event not yet terminated)."""
        if self._held_cr:
            return True
        *lines, unfinished = bytes(self._buffer).split(b"\n")
        return bool(unfinished) or any(line.partition(b":")[0] in (b"data", b"event") for line in lines)

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if self._held_cr or chunk.find(b"\r") != -1:
            chunk = self._fold(chunk)
        buffer = self._buffer
        if buffer:
            search_from = len(buffer) - 1  # a blank line may straddle the old end and the new bytes
            buffer += chunk
            if buffer.find(b"\n\n", search_from) == -1:
                self._bound()
                return []
            chunk = bytes(buffer)
            buffer.clear()
        blocks = chunk.split(b"\n\n")
        rest = blocks.pop()
        if rest:
            buffer += rest
            self._bound()
        events: list[SSEEvent] = []
        for block in blocks:
            if block[:6] == b"data: " and block.find(b"\n") == -1:
                events.append((None, block[6:]))
            elif block[:7] == b"event: " and (named := self._named(block)) is not None:
                events.append(named)
            elif (event := self._event(block)) is not None:
                events.append(event)
        return events

    def _named(self, block: bytes) -> SSEEvent | None:
        """``event: name`` then one ``data: ...`` line (every Anthropic event), or None for any other shape."""
        name, _, data = block.partition(b"\n")
        if data[:6] != b"data: " or data.find(b"\n") != -1:
            return None
        return self._text(name[7:]), data[6:]

    def _fold(self, chunk: bytes) -> bytes:
        """``\r\n`` -> ``\n``; a trailing ``\r`` waits for the next chunk, which may start with its ``\n``."""
        if self._held_cr:
            chunk, self._held_cr = b"\r" + chunk, False
        if chunk.endswith(b"\r"):
            chunk, self._held_cr = chunk[:-1], True
        return chunk.replace(b"\r\n", b"\n")

    def _bound(self) -> None:
        if len(self._buffer) > MAX_EVENT_BYTES:
            raise UpstreamProtocolError(f"{self._family} stream event exceeds {MAX_EVENT_BYTES} bytes")

    def _event(self, block: bytes) -> SSEEvent | None:
        """One event's lines (no blank line among them but a leading one): ``data`` and ``event`` fields."""
        name: str | None = None
        data: list[bytes] = []
        for line in block.split(b"\n"):
            if not line or line.startswith(b":"):
                continue
            field, _, value = line.partition(b":")
            value = value.removeprefix(b" ")
            if field == b"data":
                data.append(value)
            elif field == b"event":
                name = self._text(value)
        return (name, b"\n".join(data)) if data else None

    def _text(self, raw: bytes) -> str:
        try:
            return raw.decode()
        except UnicodeDecodeError:
            raise UpstreamProtocolError(f"{self._family} stream line is not valid UTF-8: {raw[:80]!r}") from None
