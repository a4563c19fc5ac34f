"""Gemini adapter against the real mock upstream over loopback."""

import orjson
import pytest

from switchboard.mock.harness import MockControl
from switchboard.proxy.adapters.base import Target, UpstreamError, UpstreamProtocolError, Usage
from switchboard.proxy.adapters.registry import get_adapter
from tests.adapters.support import chat, decode_events, make_target, stream_text, stream_through

BODY = {
    "model": "public-model",
    "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there world"}],
}
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]


def target_for(mock: MockControl, api_key: str | None = "g-key") -> Target:
    return make_target("gemini", mock.base_url, api_key=api_key)


async def test_chat_sends_system_instruction(mock_upstream: MockControl) -> None:
    response, usage = await chat(get_adapter("gemini"), target_for(mock_upstream), BODY)
    assert response["choices"][0]["message"]["content"] == "hello there world"
    assert response["model"] == "public-model"
    assert usage == Usage(5, 3)
    [seen] = await mock_upstream.requests()
    assert seen["model"] == "upstream-model"
    assert seen["body"]["systemInstruction"] == {"parts": [{"text": "be brief"}]}


async def test_function_call_and_response_round_trip(mock_upstream: MockControl) -> None:
    adapter = get_adapter("gemini")
    target = target_for(mock_upstream)
    forced = {"type": "function", "function": {"name": "lookup"}}
    first, _ = await chat(adapter, target, {**BODY, "tools": TOOLS, "tool_choice": forced})
    assert first["choices"][0]["finish_reason"] == "tool_calls"
    call = first["choices"][0]["message"]["tool_calls"][0]
    assert orjson.loads(call["function"]["arguments"]) == {"query": "hello there world"}
    messages = [
        *BODY["messages"],
        first["choices"][0]["message"],
        {"role": "tool", "tool_call_id": call["id"], "content": "42"},
    ]
    second, _ = await chat(adapter, target, {**BODY, "tools": TOOLS, "messages": messages})
    assert second["choices"][0]["message"]["content"] == "tool said: 42"
    seen = await mock_upstream.requests()
    assert seen[0]["body"]["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["lookup"]}
    }
    response_part = seen[1]["body"]["contents"][-1]["parts"][0]
    assert response_part == {"functionResponse": {"name": "lookup", "response": {"content": "42"}}}


@pytest.mark.parametrize("include_usage", [True, False])
async def test_stream_text(mock_upstream: MockControl, include_usage: bool) -> None:
    adapter = get_adapter("gemini")
    target = target_for(mock_upstream)
    translator = adapter.chat_stream(target, "public-model", include_usage=include_usage)
    payloads = decode_events(
        await stream_through(adapter.chat_request(target, BODY, stream=True), translator, chunk_size=5)
    )
    assert stream_text(payloads) == "hello there world"
    assert payloads[-1] == "[DONE]"
    assert translator.usage == Usage(5, 3)
    assert any("usage" in p for p in payloads[:-1]) is include_usage


async def test_stream_function_call(mock_upstream: MockControl) -> None:
    adapter = get_adapter("gemini")
    target = target_for(mock_upstream)
    translator = adapter.chat_stream(target, "public-model", include_usage=False)
    payloads = decode_events(
        await stream_through(adapter.chat_request(target, {**BODY, "tools": TOOLS}, stream=True), translator)
    )
    [call] = [c for p in payloads[:-1] for c in p["choices"][0]["delta"].get("tool_calls", [])]
    assert call["function"]["name"] == "lookup" and call["index"] == 0
    assert payloads[-2]["choices"][0]["finish_reason"] == "tool_calls"


async def test_wrong_key_and_rate_limit(mock_upstream_factory) -> None:  # type: ignore[no-untyped-def]
    mock = await mock_upstream_factory(api_key="right")
    adapter = get_adapter("gemini")
    with pytest.raises(UpstreamError) as info:
        await chat(adapter, target_for(mock, api_key="wrong"), BODY)
    assert info.value.status == 401 and "UNAUTHENTICATED" in info.value.message
    await mock.set_faults(status=429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    with pytest.raises(UpstreamError) as info:
        await chat(adapter, target_for(mock, api_key="right"), BODY)
    assert (info.value.status, info.value.retry_after) == (429, 0.0)


async def test_cut_stream(mock_upstream: MockControl) -> None:
    adapter = get_adapter("gemini")
    target = target_for(mock_upstream)
    await mock_upstream.set_faults(cut_stream_after=1)
    with pytest.raises(UpstreamProtocolError, match="before a finishReason"):
        await stream_through(
            adapter.chat_request(target, BODY, stream=True), adapter.chat_stream(target, "m", include_usage=False)
        )
