"""Reading answers in each client API for spans (pure): response id, finish reasons, output messages."""

import json
from typing import Any

from switchboard.proxy.apis.native_stream import event_bytes
from switchboard.proxy.telemetry.answers import CHAT, MESSAGES, RESPONSES, reader_for
from switchboard.proxy.telemetry.content import input_attributes

RESPONSE: dict[str, Any] = {
    "id": "resp_1",
    "object": "response",
    "status": "incomplete",
    "incomplete_details": {"reason": "max_output_tokens"},
    "output": [
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hel"}]},
        {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": '{"city":"Oslo"}'},
    ],
}
MESSAGE: dict[str, Any] = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "content": [
        {"type": "thinking", "thinking": "hidden"},
        {"type": "text", "text": "sure"},
        {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Oslo"}},
    ],
    "stop_reason": "tool_use",
}


def _output(attributes: dict[str, str]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = json.loads(attributes["gen_ai.output.messages"])
    return result


def test_each_endpoint_reads_its_own_api() -> None:
    assert reader_for("responses") is RESPONSES
    assert reader_for("messages") is MESSAGES and reader_for("messages/count_tokens") is MESSAGES
    assert reader_for("chat/completions") is CHAT and reader_for("embeddings") is CHAT


def test_a_responses_answer_gives_its_id_status_and_output() -> None:
    assert RESPONSES.identity(RESPONSE) == {
        "gen_ai.response.id": "resp_1",
        "gen_ai.response.finish_reasons": ["max_output_tokens"],
    }
    assert RESPONSES.identity({"id": "resp_2", "status": "completed"})["gen_ai.response.finish_reasons"] == [
        "completed"
    ]
    (message,) = _output(RESPONSES.output(RESPONSE))
    assert message["finish_reason"] == "max_output_tokens"
    assert message["parts"] == [
        {"type": "text", "content": "hel"},
        {"type": "tool_call", "id": "call_1", "name": "weather", "arguments": '{"city":"Oslo"}'},
    ]


def test_a_responses_stream_is_read_from_its_terminal_event_only() -> None:
    reader = RESPONSES.stream(True)
    created = {"type": "response.created", "response": {**RESPONSE, "id": "resp_early", "status": "in_progress"}}
    reader.feed([event_bytes(created), event_bytes({"type": "response.output_text.delta", "delta": "hel"})])
    assert reader.attributes() == {}  # nothing final yet
    reader.feed([event_bytes({"type": "response.incomplete", "response": RESPONSE})])
    assert reader.attributes() == {
        "gen_ai.response.id": "resp_1",
        "gen_ai.response.finish_reasons": ["max_output_tokens"],
    }
    assert _output(reader.output())[0]["parts"][0] == {"type": "text", "content": "hel"}


def test_a_message_gives_its_id_stop_reason_and_blocks_without_thinking() -> None:
    assert MESSAGES.identity(MESSAGE) == {"gen_ai.response.id": "msg_1", "gen_ai.response.finish_reasons": ["tool_use"]}
    (message,) = _output(MESSAGES.output(MESSAGE))
    assert message["finish_reason"] == "tool_use" and "hidden" not in json.dumps(message)
    assert message["parts"] == [
        {"type": "text", "content": "sure"},
        {"type": "tool_call", "id": "toolu_1", "name": "weather", "arguments": '{"city":"Oslo"}'},
    ]


def test_a_messages_stream_gives_id_stop_reason_and_text() -> None:
    events = [
        event_bytes({"type": "message_start", "message": {**MESSAGE, "content": [], "stop_reason": None}}),
        b'event: ping\ndata: {"type":"ping"}\n\n',
        event_bytes({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "he"}}),
        event_bytes({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "llo"}}),
        event_bytes({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}}),
        event_bytes({"type": "message_stop"}),
    ]
    plain, captured = MESSAGES.stream(False), MESSAGES.stream(True)
    plain.feed(events)
    captured.feed(events)
    expected = {"gen_ai.response.id": "msg_1", "gen_ai.response.finish_reasons": ["end_turn"]}
    assert plain.attributes() == captured.attributes() == expected
    assert _output(captured.output()) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "hello"}], "finish_reason": "end_turn"}
    ]


def test_a_chat_stream_gives_the_id_of_its_chunks() -> None:
    reader = CHAT.stream(False)
    reader.feed([b'data: {"id":"chatcmpl-9","choices":[{"index":0,"delta":{"role":"assistant"}}]}\n\n'])
    reader.feed([b'data: {"id":"chatcmpl-9","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'])
    assert reader.attributes() == {"gen_ai.response.id": "chatcmpl-9", "gen_ai.response.finish_reasons": ["stop"]}
    assert reader.output() == {}  # content is not kept unless captured


def test_responses_input_items_are_captured_as_messages() -> None:
    body = {
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        ]
    }
    messages = json.loads(input_attributes(body)["gen_ai.input.messages"])
    assert messages == [
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "sunny"}]},
    ]
