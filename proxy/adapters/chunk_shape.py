"""Recognising a streamed chat chunk by its shape, without building its objects (pure).

An OpenAI-style stream repeats one chunk shape for every token: the same bytes
around a different ``"content":"..."`` string. Once one such chunk has been
parsed and found fit to relay as it came (public model, no usage, no error, one
line), a later chunk made of the same bytes before and after a string that is
valid JSON on its own is the same JSON object with another text: it is just as
fit, so it is relayed without parsing the whole object (most of a relayed
event's cost). Anything else (a different shape, a broken string) is parsed in
full as before, so a broken upstream is still a protocol error.
"""

import re

import orjson

_CONTENT = re.compile(rb'"content":"(?:[^"\\]|\\.)*"')
"""A ``content`` key's string value, escapes included (an unescaped quote always ends a JSON string)."""


class ChunkShape:
    """The bytes around the content string of one relayable chunk."""

    __slots__ = ("_head", "_head_size", "_tail", "_tail_size")

    def __init__(self, head: bytes, tail: bytes) -> None:
        self._head, self._head_size = head, len(head)
        self._tail, self._tail_size = tail, len(tail)

    @classmethod
    def of(cls, data: bytes) -> "ChunkShape | None":
        """The shape of a chunk that holds exactly one content string (None: no such string, or several)."""
        found = _CONTENT.findall(data)
        if len(found) != 1:
            return None
        start = data.find(found[0]) + 11  # after '"content":"'
        return cls(data[:start], data[start + len(found[0]) - 12 :])

    def fits(self, data: bytes) -> bool:
        """Whether ``data`` is this shape around a valid JSON string (the same object with other text).

        Slices compared, not ``startswith``/``endswith``: those parse their arguments the slow way.
        """
        end = len(data) - self._tail_size
        if end < self._head_size or data[: self._head_size] != self._head or data[end:] != self._tail:
            return False
        try:
            orjson.loads(b'"' + data[self._head_size : end] + b'"')
        except orjson.JSONDecodeError:
            return False
        return True
