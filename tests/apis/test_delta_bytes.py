"""Text deltas, formatted as bytes for speed, are exactly the events their objects encode to."""

import orjson
from hypothesis import given
from hypothesis import strategies as st

from switchboard.proxy.adapters.base import StreamTranslator
from switchboard.proxy.adapters.openai import OpenAIStream
from switchboard.proxy.apis.messages_stream import MessagesEncoder
from switchboard.proxy.apis.native_stream import event_bytes
from switchboard.proxy.apis.responses_stream import ResponsesEncoder
from tests.adapters.test_golden import fixed_clock
from tests.apis.support import ENVELOPE


def _chunk(delta: dict[str, str]) -> bytes:
    chunk = {"id": "c1", "created": 1, "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


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
            payload = orjson.loads(event.partition(b"\ndata: ")[2])
            assert event == event_bytes(payload)
            delta = payload["delta"]  # Responses: the text; Messages: a text_delta object
            assert (delta if isinstance(delta, str) else delta["text"]) == text
