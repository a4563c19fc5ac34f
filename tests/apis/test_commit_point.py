"""The commit point: each translator says when an event it returned carries output, for every client API.

The oracle reads the client's events as a client would (chat: a delta with content, a tool call...;
Responses: a delta, a finished part or the response's end; Messages: a block delta or stop, the
message's end), so the translator's own flag is checked against what it actually sent.
"""

from pathlib import Path

import orjson
import pytest

from switchboard.proxy.adapters.base import StreamTranslator
from switchboard.proxy.adapters.openai import OpenAIStream
from tests.adapters.support import make_target
from tests.adapters.test_golden import BASE_URLS, adapter_for
from tests.apis.support import NATIVE_STREAMS, UPSTREAM_STREAMS, encoder

_CHAT_OUTPUT = ("content", "tool_calls", "function_call", "refusal", "reasoning_content")
_MESSAGES_OUTPUT = {"content_block_delta", "content_block_stop", "message_delta", "message_stop"}


def _output(api: str, event: bytes) -> bool:
    _, _, data = event.removesuffix(b"\n\n").rpartition(b"data: ")
    if api == "chat":
        if not data.startswith(b"{"):
            return False
        choices = orjson.loads(data).get("choices") or []
        return any(any(choice.get("delta", {}).get(name) for name in _CHAT_OUTPUT) for choice in choices)
    kind = orjson.loads(data)["type"]
    if api == "responses":
        return bool(kind.endswith((".delta", ".done")) or kind in ("response.completed", "response.incomplete"))
    return kind in _MESSAGES_OUTPUT


def _check_event_by_event(api: str, translator: StreamTranslator, upstream: bytes) -> None:
    sent: list[bytes] = []
    for event in upstream.replace(b"\r\n", b"\n").split(b"\n\n"):
        sent += translator.feed(event + b"\n\n")
        assert translator.output_seen == any(_output(api, e) for e in sent), sent
    assert translator.output_seen


def _chat(family: str) -> StreamTranslator:
    return adapter_for(family).chat_stream(make_target(family, BASE_URLS[family]), "public-model", include_usage=True)


@pytest.mark.parametrize("upstream", UPSTREAM_STREAMS, ids=lambda p: p.parent.name)
@pytest.mark.parametrize("api", ["chat", "responses", "messages"])
def test_translated_streams_commit_at_their_first_output(api: str, upstream: Path) -> None:
    translator = _chat(upstream.parent.name) if api == "chat" else encoder(api, upstream)
    _check_event_by_event(api, translator, upstream.read_bytes())


@pytest.mark.parametrize("api", ["responses", "messages"])
def test_native_streams_commit_at_their_first_output(api: str) -> None:
    _check_event_by_event(api, encoder(api, None), NATIVE_STREAMS[api].read_bytes())


def test_a_role_chunk_a_usage_chunk_and_a_comment_hold_the_commit() -> None:
    stream = OpenAIStream("openai", "m", include_usage=False)
    preamble = [
        b'data: {"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n',
        b": keep-alive\n\n",
        b'data: {"model":"m","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":0}}\n\n',
        b'data: {"model":"m","choices":[{"index":0,"delta":{"content":""},"finish_reason":null}]}\n\n',
    ]
    for event in preamble:
        stream.feed(event)
        assert not stream.output_seen
    stream.feed(b'data: {"model":"m","choices":[{"index":0,"delta":{"refusal":"no"}}]}\n\n')
    assert stream.output_seen
