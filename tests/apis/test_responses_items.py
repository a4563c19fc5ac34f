"""Responses output items of a translated stream: each message and call an item of its own."""

import orjson

from switchboard.proxy.adapters.openai import OpenAIStream
from switchboard.proxy.apis.responses_stream import ResponsesEncoder
from tests.adapters.test_golden import fixed_clock
from tests.apis.support import ENVELOPE, decode, run


def _chunk(delta: dict[str, object], finish_reason: str | None = None) -> bytes:
    chunk = {
        "id": "c1",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def test_text_after_a_tool_call_is_a_new_message_with_its_own_text_and_id() -> None:
    call = {"index": 0, "id": "call_1", "function": {"name": "f", "arguments": "{}"}}
    chunks = [
        _chunk({"role": "assistant", "content": "one"}),
        _chunk({"tool_calls": [call]}),
        _chunk({"content": "two"}),
        _chunk({}, "stop"),
        b"data: [DONE]\n\n",
    ]
    events = decode(
        run(ResponsesEncoder(OpenAIStream("openai", "m", include_usage=True), ENVELOPE, fixed_clock), chunks)
    )
    done_texts = [(e["item_id"], e["text"]) for e in events if e["type"] == "response.output_text.done"]
    assert done_texts == [("msg_c1", "one"), ("msg_c1_2", "two")]
    output = events[-1]["response"]["output"]
    assert [item["id"] for item in output] == ["msg_c1", "fc_c1_0", "msg_c1_2"]
    assert [item["content"][0]["text"] for item in output if item["type"] == "message"] == ["one", "two"]
