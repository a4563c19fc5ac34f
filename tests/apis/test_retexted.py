"""Events taken by their shape (no parse per token) give exactly what the full parse of each gives.

Every client API (chat, Responses, Messages) over an OpenAI-style stream, read one or more events at a time:
the client gets the same bytes, errors and usage as when every event is parsed, whatever the chunks hold.
"""

from typing import Any
from unittest import mock

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from switchboard.proxy.adapters import openai
from switchboard.proxy.adapters.base import StreamTranslator, UpstreamError, UpstreamProtocolError
from switchboard.proxy.adapters.chunk_shape import ChunkShape
from switchboard.proxy.adapters.openai import OpenAIStream
from switchboard.proxy.adapters.wire import load_object
from switchboard.proxy.apis.messages_stream import MessagesEncoder
from switchboard.proxy.apis.responses_stream import ResponsesEncoder
from tests.adapters.test_golden import fixed_clock
from tests.apis.support import ENVELOPE

TOOL = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


def _event(payload: dict[str, Any] | bytes) -> bytes:
    return b"data: " + (payload if isinstance(payload, bytes) else orjson.dumps(payload)) + b"\n\n"


def _chunk(delta: dict[str, Any], finish: str | None = None, model: str = "m") -> bytes:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return _event({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [choice]})


_KINDS = st.sampled_from(["text", "text", "text", "tool", "text+tool", "finish", "usage", "renamed", "weird"])


def _piece(kind: str, text: str) -> bytes:
    if kind == "text":
        return _chunk({"content": text})
    if kind == "tool":
        return _chunk({"tool_calls": [TOOL]})
    if kind == "text+tool":
        return _chunk({"content": text, "tool_calls": [TOOL]})
    if kind == "finish":
        return _chunk({}, "stop")
    if kind == "usage":
        return _event({"id": "c1", "model": "m", "choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 3}})
    if kind == "renamed":
        return _chunk({"content": text}, model="upstream-name")
    # a key ending in `"content":"` ahead of a spaced delta content: the only string the shape could take
    body = orjson.dumps({"id": "c1", "x": text, "choices": [{"index": 0, "delta": {"content": "!"}}]})
    return _event(body.replace(b'"x"', b'"x\\"content"').replace(b'"content":"!"', b'"content" : "!"'))


def _translators() -> list[StreamTranslator]:
    return [
        OpenAIStream("openai", "m", include_usage=False),
        ResponsesEncoder(OpenAIStream("openai", "m", include_usage=True), ENVELOPE, fixed_clock),
        MessagesEncoder(OpenAIStream("openai", "m", include_usage=True), "m", fixed_clock),
    ]


def _run(translator: StreamTranslator, reads: list[bytes]) -> tuple[bytes, Any]:
    """What the client gets (up to the error the stream failed with, if any) and the usage seen."""
    out: list[bytes] = []
    try:
        for read in reads:
            out += translator.feed(read)
        out += translator.finish()
    except UpstreamError as error:
        out.append(f"{type(error).__name__}: {error}".encode())
    return b"".join(out), translator.usage


@settings(max_examples=150, deadline=None)
@example(pieces=[("tool", ""), ("text+tool", "a"), ("text", "b"), ("text+tool", "c")], crlf=False, per_read=1)
@example(pieces=[("text", ""), ("weird", "a"), ("weird", "b"), ("text", "c")], crlf=False, per_read=1)
@example(pieces=[("renamed", "a"), ("text", "b"), ("text", "c"), ("finish", ""), ("usage", "")], crlf=False, per_read=1)
@given(st.lists(st.tuples(_KINDS, st.text(max_size=8)), max_size=14), st.booleans(), st.integers(1, 3))
def test_events_taken_by_their_shape_give_what_their_parse_gives(
    pieces: list[tuple[str, str]], crlf: bool, per_read: int
) -> None:
    events = [_chunk({"role": "assistant", "content": ""}), *(_piece(kind, text) for kind, text in pieces)]
    events += [b"data: [DONE]\n\n", _chunk({"content": "after the end"})]
    if crlf:  # an upstream writing CRLF: no read is a whole event of the shape, every one is parsed
        events = [event.replace(b"\n", b"\r\n") for event in events]
    reads = [b"".join(events[i : i + per_read]) for i in range(0, len(events), per_read)]
    for fast, parsed in zip(_translators(), _translators(), strict=True):
        with mock.patch.object(ChunkShape, "of", return_value=None):  # no shape: every event parsed
            expected = _run(parsed, reads)
        assert _run(fast, reads) == expected


def test_the_shape_is_used_and_a_broken_event_of_it_still_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once a chunk with output gave the shape, the next reads of it are not parsed as objects."""
    parses: list[bytes] = []

    def counted(family: str, raw: bytes, what: str) -> dict[str, Any]:
        parses.append(raw)
        return load_object(family, raw, what)

    monkeypatch.setattr(openai, "load_object", counted)
    for translator in _translators():
        translator.feed(_chunk({"role": "assistant", "content": ""}))
        translator.feed(_chunk({"content": "a"}))
        parses.clear()
        assert translator.feed(_chunk({"content": "b"})) and translator.feed(_chunk({"content": "c"}))
        assert parses == []
        with pytest.raises(UpstreamProtocolError, match="not valid JSON"):
            translator.feed(_chunk({"content": "d"}).replace(b'"d"', b'"d\\x"'))
