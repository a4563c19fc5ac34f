"""Events formatted as bytes for speed (text deltas, the events of every stream) are exactly the bytes
their objects encode to (``event_bytes``: orjson's compact JSON, keys in the same order)."""

from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchboard.proxy.adapters.base import StreamTranslator
from switchboard.proxy.adapters.openai import OpenAIStream
from switchboard.proxy.apis.messages_stream import MessagesEncoder
from switchboard.proxy.apis.native_stream import event_bytes
from switchboard.proxy.apis.responses_object import Envelope
from switchboard.proxy.apis.responses_stream import ResponsesEncoder
from tests.adapters.test_golden import fixed_clock
from tests.apis.support import ENVELOPE, UPSTREAM_STREAMS, encoder, run

_USAGE = {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12, "prompt_tokens_details": {"cached_tokens": 2}}


def _chunk(delta: dict[str, str] | None, finish_reason: str | None = None, **extra: object) -> bytes:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    chunk = {"id": "c1", "created": 1, "model": "m", "choices": choices, **extra}
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def _payload(event: bytes) -> object:
    payload = orjson.loads(event.partition(b"\ndata: ")[2])
    assert event == event_bytes(payload)
    return payload


def _last_events(translator: StreamTranslator, texts: list[str]) -> list[bytes]:
    translator.feed(_chunk({"role": "assistant", "content": ""}))
    return [translator.feed(_chunk({"content": text}))[-1] for text in texts]


@given(st.lists(st.text(min_size=1), min_size=1, max_size=3))
def test_text_deltas_are_their_objects_encoded(texts: list[str]) -> None:
    for translator in (
        ResponsesEncoder(OpenAIStream("openai", "m", include_usage=True), ENVELOPE, fixed_clock),
        MessagesEncoder(OpenAIStream("openai", "m", include_usage=True), "m", fixed_clock),
    ):
        for event, text in zip(_last_events(translator, texts), texts, strict=True):
            payload = _payload(event)
            assert isinstance(payload, dict)
            delta = payload["delta"]  # Responses: the text; Messages: a text_delta object
            assert (delta if isinstance(delta, str) else delta["text"]) == text


_ENVELOPES = st.builds(
    Envelope.of,
    st.fixed_dictionaries(
        {"model": st.just("m")},
        optional={"instructions": st.text(), "metadata": st.dictionaries(st.text(), st.text(), max_size=2)},
    ),
    st.text(min_size=1),
)


@given(
    envelope=_ENVELOPES,
    chunk_id=st.text(),
    texts=st.lists(st.text(), min_size=1, max_size=3),
    finish_reason=st.sampled_from(["stop", "length", "content_filter", "tool_calls"]),
)
def test_whole_streams_are_their_objects_encoded(
    envelope: Envelope, chunk_id: str, texts: list[str], finish_reason: str
) -> None:
    """Every event of a text stream (opening, deltas, closing, the finished response), any ids and texts."""
    chunks = [_chunk({"role": "assistant", "content": ""}, id=chunk_id)]
    chunks += [_chunk({"content": text}, id=chunk_id) for text in texts]
    chunks += [_chunk({}, finish_reason, id=chunk_id), _chunk(None, usage=_USAGE, id=chunk_id), b"data: [DONE]\n\n"]
    for translator in (
        ResponsesEncoder(OpenAIStream("openai", "m", include_usage=True), envelope, fixed_clock),
        MessagesEncoder(OpenAIStream("openai", "m", include_usage=True), envelope.model, fixed_clock),
    ):
        for event in run(translator, chunks):
            _payload(event)


@pytest.mark.parametrize("api", ["responses", "messages"])
@pytest.mark.parametrize("upstream", UPSTREAM_STREAMS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden_stream_events_are_their_objects_encoded(api: str, upstream: Path) -> None:
    """Every upstream family's golden stream (tool calls included), as each API's events."""
    events = run(encoder(api, upstream), [upstream.read_bytes()])
    assert events
    for event in events:
        _payload(event)


@given(
    envelope=st.one_of(_ENVELOPES, st.builds(Envelope, st.text())),  # an empty echo too
    status=st.sampled_from(["in_progress", "completed"]),
    finish_reason=st.sampled_from([None, "stop", "length"]),
)
def test_a_snapshot_spliced_from_its_echo_tail_is_its_response_encoded(
    envelope: Envelope, status: str, finish_reason: str | None
) -> None:
    """Streams encode the request's fields once (``echo_tail``) and splice them after each snapshot's head."""
    head = envelope.head("resp_1", 1, status, [], None, finish_reason=finish_reason)
    whole = envelope.response(envelope.head("resp_1", 1, status, [], None, finish_reason=finish_reason))
    assert orjson.dumps(head)[:-1] + envelope.echo_tail() == orjson.dumps(whole)
