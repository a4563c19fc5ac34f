"""Helpers for the inbound API codec tests: building each encoder over a golden upstream stream."""

from pathlib import Path
from typing import Any

import orjson

from switchboard.proxy.adapters.base import StreamTranslator
from switchboard.proxy.apis.messages_stream import MessagesEncoder, NativeMessagesStream
from switchboard.proxy.apis.responses_object import Envelope
from switchboard.proxy.apis.responses_stream import NativeResponsesStream, ResponsesEncoder
from tests.adapters.support import make_target
from tests.adapters.test_golden import BASE_URLS, adapter_for, fixed_clock

HERE = Path(__file__).parent / "golden"
ADAPTER_GOLDEN = Path(__file__).parent.parent / "adapters" / "golden"
UPSTREAM_STREAMS = sorted(ADAPTER_GOLDEN.glob("*/stream_*.sse"))
UPSTREAM_RESPONSES = sorted(p for p in ADAPTER_GOLDEN.glob("*/response_*.json") if ".expected" not in p.name)
NATIVE_STREAMS = {
    "responses": HERE / "responses" / "native_stream.sse",
    "messages": HERE / "messages" / "native_stream.sse",
}
ENVELOPE = Envelope.of(
    {"model": "public-model", "instructions": "Be brief.", "metadata": {"team": "a"}}, "public-model"
)


def encoder(api: str, upstream: Path | None) -> StreamTranslator:
    """The client-side stream of ``api`` over ``upstream``'s chat stream (None: the native pass-through)."""
    if upstream is None:
        return NativeResponsesStream("public-model") if api == "responses" else NativeMessagesStream("public-model")
    family = upstream.parent.name
    inner = adapter_for(family).chat_stream(make_target(family, BASE_URLS[family]), "public-model", include_usage=True)
    if api == "responses":
        return ResponsesEncoder(inner, ENVELOPE, fixed_clock)
    return MessagesEncoder(inner, "public-model", fixed_clock)


def run(translator: StreamTranslator, pieces: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for piece in pieces:
        out += translator.feed(piece)
    return out + translator.finish()


def decode(events: list[bytes]) -> list[Any]:
    """``event:``/``data:`` SSE events as their JSON payloads, checking the event name is the payload's type."""
    payloads = []
    for event in events:
        head, _, data = event.removesuffix(b"\n\n").partition(b"\ndata: ")
        payload = orjson.loads(data)
        assert head == b"event: " + payload["type"].encode(), event
        payloads.append(payload)
    return payloads
