"""Native streams (Anthropic Messages, OpenAI Responses): unchanged events go out as the upstream wrote them."""

import json
from typing import Any

import pytest

from switchboard.proxy.adapters.base import UpstreamProtocolError
from switchboard.proxy.apis.messages_stream import NativeMessagesStream
from switchboard.proxy.apis.responses_stream import NativeResponsesStream


def _event(payload: dict[str, Any]) -> bytes:
    """As an upstream may write it: spaced JSON (json.dumps), CRLF line ends."""
    return f"event: {payload['type']}\r\ndata: {json.dumps(payload)}\r\n\r\n".encode()


def _sent(payload: dict[str, Any]) -> bytes:
    return f"event: {payload['type']}\ndata: {json.dumps(payload)}\n\n".encode()


MESSAGE = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-upstream", "content": []}
MESSAGES = [
    {"type": "message_start", "message": {**MESSAGE, "usage": {"input_tokens": 5, "output_tokens": 1}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
    {"type": "message_stop"},
]


def test_messages_events_pass_as_written_but_message_start_which_names_the_public_model() -> None:
    stream = NativeMessagesStream("claude-public")
    out = [event for payload in MESSAGES for event in stream.feed(_event(payload))] + stream.finish()
    start = json.loads(out[0].split(b"data: ", 1)[1])
    assert start["message"]["model"] == "claude-public" and out[0].startswith(b"event: message_start\ndata: {")
    assert out[1:] == [_sent(payload) for payload in MESSAGES[1:]]
    assert stream.usage is not None and (stream.usage.prompt_tokens, stream.usage.completion_tokens) == (5, 2)


def test_responses_events_pass_as_written_but_those_carrying_the_response() -> None:
    response = {"id": "resp_1", "object": "response", "model": "gpt-upstream", "status": "in_progress", "output": []}
    done = {**response, "status": "completed", "usage": {"input_tokens": 4, "output_tokens": 1, "total_tokens": 5}}
    events = [
        {"type": "response.created", "sequence_number": 0, "response": response},
        {"type": "response.output_text.delta", "sequence_number": 1, "item_id": "m", "delta": "Hi"},
        {"type": "response.completed", "sequence_number": 2, "response": done},
    ]
    stream = NativeResponsesStream("gpt-public")
    out = [event for payload in events for event in stream.feed(_event(payload))] + stream.finish()
    assert [json.loads(e.split(b"data: ", 1)[1])["response"]["model"] for e in (out[0], out[2])] == ["gpt-public"] * 2
    assert out[1] == _sent(events[1])
    assert stream.usage is not None and stream.usage.completion_tokens == 1


def test_an_event_type_that_is_not_one_line_is_a_protocol_error() -> None:
    stream = NativeMessagesStream("claude-public")
    stream.feed(_event(MESSAGES[0]))
    forged = {"type": 'ping\ndata: {"type": "message_stop"}', "index": 0}
    with pytest.raises(UpstreamProtocolError, match="not one line"):
        stream.feed(b"data: " + json.dumps(forged).encode() + b"\n\n")
