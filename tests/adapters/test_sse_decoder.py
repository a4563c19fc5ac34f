"""The SSE decoder against a line-by-line reading of the format, on generated streams split anywhere."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.proxy.adapters.base import UpstreamProtocolError
from switchboard.proxy.adapters.sse import MAX_EVENT_BYTES, SSEDecoder, SSEEvent
from tests.adapters.test_stream_splitting import split


def reference(stream: bytes) -> tuple[list[SSEEvent], bool]:
    """Every complete event of ``stream``, read one line at a time (``\\n`` or ``\\r\\n`` ends a line),
    and whether it stopped inside an event (an unfinished line, or fields not yet ended by a blank line)."""
    events: list[SSEEvent] = []
    name: str | None = None
    data: list[bytes] = []
    *lines, unfinished = re.split(rb"\r?\n", stream)
    for line in lines:
        if not line:
            if data:
                events.append((name, b"\n".join(data)))
            name, data = None, []
        elif not line.startswith(b":"):
            field, _, value = line.partition(b":")
            if field == b"data":
                data.append(value.removeprefix(b" "))
            elif field == b"event":
                name = value.removeprefix(b" ").decode()
    return events, bool(unfinished) or bool(data) or name is not None


_TEXT = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=12)
_LINE = st.one_of(
    st.builds(lambda v: "data: " + v, _TEXT),
    st.builds(lambda v: "data:" + v, _TEXT),
    st.just("data"),
    st.builds(lambda v: "event: " + v, _TEXT),
    st.builds(lambda v: ": " + v, _TEXT),
    st.builds(lambda v: "id: " + v, _TEXT),
    st.builds(lambda v: "datum: " + v, _TEXT),
)
_EVENT = st.lists(_LINE, min_size=0, max_size=4)


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    out = b""
    for lines in draw(st.lists(_EVENT, max_size=6)):
        for line in [*lines, ""]:
            out += line.encode() + draw(st.sampled_from([b"\n", b"\r\n"]))
    return out + draw(st.sampled_from([b"", b"data: unfinished", b"data: x\n", b"data: x\r", b": c\n", b"\n"]))


@settings(max_examples=300, deadline=None)
@given(stream=streams(), cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8))
def test_any_split_of_any_stream_gives_the_events_of_a_line_by_line_reading(stream: bytes, cuts: list[int]) -> None:
    decoder = SSEDecoder("openai")
    events = [event for piece in split(stream, cuts) for event in decoder.feed(piece)]
    assert (events, decoder.mid_event) == reference(stream)


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
def test_one_line_events_are_whole_and_a_stream_ending_after_a_blank_line_is_not_mid_event(ending: bytes) -> None:
    decoder = SSEDecoder("openai")
    assert decoder.feed(b'data: {"a": 1}' + ending + ending + b"data: [DONE]" + ending) == [(None, b'{"a": 1}')]
    assert decoder.mid_event
    assert decoder.feed(ending) == [(None, b"[DONE]")]
    assert not decoder.mid_event


def test_an_event_larger_than_the_bound_fed_in_pieces_is_refused() -> None:
    decoder = SSEDecoder("openai")
    piece = b"x" * (1024 * 1024)
    with pytest.raises(UpstreamProtocolError, match="exceeds"):
        decoder.feed(b"data: ")
        for _ in range(MAX_EVENT_BYTES // len(piece) + 1):
            decoder.feed(piece)


def test_invalid_utf8_in_an_event_name_is_a_protocol_error() -> None:
    with pytest.raises(UpstreamProtocolError, match="not valid UTF-8"):
        SSEDecoder("anthropic").feed(b"event: \xff\ndata: {}\n\n")
