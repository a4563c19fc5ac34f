"""Chunks relayed by their shape: exactly the chunks a full parse would relay as they came, nothing else."""

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchboard.proxy.adapters.base import UpstreamError, UpstreamProtocolError
from switchboard.proxy.adapters.chunk_shape import ChunkShape
from switchboard.proxy.adapters.openai import OpenAIStream
from switchboard.proxy.adapters.sse import SSEDecoder

HEAD = b'{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m",' + (
    b'"choices":[{"index":0,"delta":{"content":"'
)
TAIL = b'"},"logprobs":null,"finish_reason":null}]}'
FIRST = HEAD + b"Hello" + TAIL
ROLE = b'{"id":"chatcmpl-1","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}'


def _event(data: bytes) -> bytes:
    return b"data: " + data + b"\n\n"


def _committed() -> OpenAIStream:
    stream = OpenAIStream("openai", "m", include_usage=False)
    assert stream.feed(_event(ROLE) + _event(FIRST)) == [_event(ROLE), _event(FIRST)]
    return stream


@given(st.binary(max_size=60))
def test_a_fitting_chunk_is_the_same_object_with_another_text(middle: bytes) -> None:
    shape = ChunkShape.of(_event(FIRST))
    assert shape is not None
    data = HEAD + middle + TAIL
    text = shape.text(_event(data))
    if text is not None:
        assert SSEDecoder("openai").feed(_event(data)) == [(None, data)]  # exactly one whole event
        parsed, template = orjson.loads(data), orjson.loads(FIRST)
        assert parsed["choices"][0]["delta"].pop("content") == text
        template["choices"][0]["delta"].pop("content")
        assert parsed == template
    else:
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(b'"' + middle + b'"')


@given(st.text(max_size=40))
def test_every_text_fits_the_shape(text: str) -> None:
    shape = ChunkShape.of(_event(FIRST))
    assert shape is not None and shape.text(_event(HEAD + orjson.dumps(text)[1:-1] + TAIL)) == text
    assert shape.around(orjson.dumps(text)) == _event(HEAD + orjson.dumps(text)[1:-1] + TAIL)


def test_only_whole_events_of_the_shape_fit() -> None:
    shape = ChunkShape.of(_event(FIRST))
    assert shape is not None
    assert shape.text(_event(FIRST) + _event(FIRST)) is None  # two events are not one of the shape
    assert shape.text(_event(FIRST)[:-1]) is None
    assert shape.text(b"data:" + FIRST + b"\n\n") is None
    assert shape.text(_event(HEAD + TAIL)) == ""


def test_a_chunk_with_no_or_two_content_strings_has_no_shape() -> None:
    assert ChunkShape.of(_event(b'{"choices":[{"delta":{"tool_calls":[]}}]}')) is None
    assert ChunkShape.of(_event(b'{"content":"a","x":{"content":"b"}}')) is None
    shape = ChunkShape.of(_event(b'{"a":"\\"content\\":\\"x","content":"y\\\\"}'))
    assert shape is not None and shape.text(_event(b'{"a":"\\"content\\":\\"x","content":"zz"}')) == "zz"


def test_relayed_chunks_keep_their_bytes_and_broken_ones_still_fail() -> None:
    stream = _committed()
    same = HEAD + rb"w\u00e9 \"q\"" + TAIL
    assert stream.feed(_event(same) + _event(same)) == [_event(same), _event(same)]
    with pytest.raises(UpstreamProtocolError):
        _committed().feed(_event(HEAD + b'a","usage":{"x' + TAIL))
    with pytest.raises(UpstreamProtocolError):
        _committed().feed(_event(HEAD + b"\xff" + TAIL))


def test_other_shapes_are_parsed_for_usage_errors_and_the_end() -> None:
    stream = _committed()
    usage = b'{"id":"chatcmpl-1","model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}'
    renamed = HEAD.replace(b'"m"', b'"upstream-name"') + b"x" + TAIL
    out = stream.feed(_event(usage) + _event(renamed) + b"data: [DONE]\n\n" + _event(FIRST))
    assert [orjson.loads(e[6:])["model"] for e in out] == ["m"]
    assert stream.usage is not None and stream.usage.completion_tokens == 2
    with pytest.raises(UpstreamError):
        _committed().feed(_event(b'{"error":{"message":"overloaded"}}'))
