"""Recognising a streamed chat chunk by its shape, without building its objects (pure).

An OpenAI-style stream repeats one chunk shape for every token: the same bytes
around a different ``"content":"..."`` string. Once one such chunk's event has
been parsed, a later event made of the same bytes before and after a string that
is valid JSON on its own is the same JSON object with another text at the same
place: whatever the full parse decided of the first (fit to relay as it came,
carrying no usage, no error) holds for it too, so it is taken without parsing the
whole object (most of a streamed event's cost). Anything else (a different shape,
a broken string) is parsed in full as before, so a broken upstream is still a
protocol error.

Shapes are of whole events (``data: {...}`` and the blank line), so an upstream
read that is one event of the shape is known to be exactly that one event.
"""

import re

import orjson

_CONTENT = re.compile(rb'"content":"(?:[^"\\]|\\.)*"')
"""A ``content`` key's string value, escapes included (an unescaped quote always ends a JSON string)."""


class ChunkShape:
    """The bytes around the content string of one event: up to its opening quote, from its closing one."""

    __slots__ = ("_head", "_head_size", "_tail", "_tail_size")

    def __init__(self, head: bytes, tail: bytes) -> None:
        self._head, self._head_size = head, len(head)
        self._tail, self._tail_size = tail, len(tail)

    @classmethod
    def of(cls, event: bytes) -> "ChunkShape | None":
        """The shape of an event that holds exactly one content string (None: no such string, or several)."""
        found = _CONTENT.search(event)
        if found is None or _CONTENT.search(event, found.end()) is not None:
            return None
        return cls(event[: found.start() + 11], event[found.end() - 1 :])  # 11: len('"content":"')

    def text(self, event: bytes) -> str | None:
        """The content text of ``event`` when it is this shape around a valid JSON string, else None.

        Slices compared, not ``startswith``/``endswith``: those parse their arguments the slow way. The
        string is parsed with the quotes that end the head and start the tail (one slice, no copies joined).
        """
        start, end = self._head_size, len(event) - self._tail_size
        if end < start or event[:start] != self._head or event[end:] != self._tail:
            return None
        try:
            text: str = orjson.loads(event[start - 1 : end + 1])
        except orjson.JSONDecodeError:
            return None
        return text

    def around(self, literal: bytes) -> bytes:
        """The event of this shape with the JSON string ``literal`` (quotes included) as its content."""
        return self._head[:-1] + literal + self._tail[1:]
