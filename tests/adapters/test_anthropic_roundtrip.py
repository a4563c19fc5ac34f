"""Anthropic adapter against the real mock upstream over loopback."""

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


def target_for(mock: MockControl, max_output_tokens: int | None = None) -> Target:
    return make_target("anthropic", mock.base_url, max_output_tokens=max_output_tokens)


async def test_chat_sends_system_and_default_max_tokens(mock_upstream: MockControl) -> None:
    adapter = get_adapter("anthropic")
    response, usage = await chat(adapter, target_for(mock_upstream, max_output_tokens=321), BODY)
    assert response["choices"][0]["message"]["content"] == "hello there world"
    assert response["choices"][0]["finish_reason"] == "stop"
    assert response["model"] == "public-model"
    assert usage == Usage(5, 3)
    [seen] = await mock_upstream.requests()
    assert seen["body"]["system"] == "be brief"
    assert seen["body"]["max_tokens"] == 321
    assert seen["body"]["model"] == "upstream-model"


async def test_max_tokens_truncates_with_length(mock_upstream: MockControl) -> None:
    response, usage = await chat(get_adapter("anthropic"), target_for(mock_upstream), {**BODY, "max_tokens": 2})
    assert response["choices"][0]["finish_reason"] == "length"
    assert response["choices"][0]["message"]["content"] == "hello there "
    assert usage.completion_tokens == 2


async def test_tool_use_and_tool_result_round_trip(mock_upstream: MockControl) -> None:
    adapter = get_adapter("anthropic")
    target = target_for(mock_upstream)
    first, _ = await chat(adapter, target, {**BODY, "tools": TOOLS, "tool_choice": "required"})
    call = first["choices"][0]["message"]["tool_calls"][0]
    assert first["choices"][0]["finish_reason"] == "tool_calls"
    assert call["function"]["name"] == "lookup"
    assert orjson.loads(call["function"]["arguments"]) == {"query": "hello there world"}
    follow_up = {
        **BODY,
        "tools": TOOLS,
        "messages": [
            *BODY["messages"],
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": "42"},
        ],
    }
    second, _ = await chat(adapter, target, follow_up)
    assert second["choices"][0]["message"]["content"] == "tool said: 42"
    seen = (await mock_upstream.requests())[-1]["body"]
    assert seen["messages"][-1]["content"][0] == {"type": "tool_result", "tool_use_id": call["id"], "content": "42"}
    first_seen = (await mock_upstream.requests())[0]["body"]
    assert first_seen["tool_choice"] == {"type": "any"}


@pytest.mark.parametrize("include_usage", [True, False])
async def test_stream_text(mock_upstream: MockControl, include_usage: bool) -> None:
    adapter = get_adapter("anthropic")
    target = target_for(mock_upstream)
    translator = adapter.chat_stream(target, "public-model", include_usage=include_usage)
    payloads = decode_events(await stream_through(adapter.chat_request(target, BODY, stream=True), translator))
    assert stream_text(payloads) == "hello there world"
    assert payloads[-1] == "[DONE]"
    assert [p["choices"][0]["finish_reason"] for p in payloads[:-1] if p["choices"]][-1] == "stop"
    assert translator.usage == Usage(5, 3)
    assert any("usage" in p for p in payloads[:-1]) is include_usage


async def test_stream_tool_call(mock_upstream: MockControl) -> None:
    adapter = get_adapter("anthropic")
    target = target_for(mock_upstream)
    translator = adapter.chat_stream(target, "public-model", include_usage=False)
    request = adapter.chat_request(target, {**BODY, "tools": TOOLS}, stream=True)
    payloads = decode_events(await stream_through(request, translator, chunk_size=3))
    deltas = [c for p in payloads[:-1] for c in p["choices"][0]["delta"].get("tool_calls", [])]
    assert deltas[0]["function"]["name"] == "lookup" and deltas[0]["index"] == 0
    arguments = "".join(d["function"]["arguments"] for d in deltas)
    assert orjson.loads(arguments) == {"query": "hello there world"}
    assert payloads[-2]["choices"][0]["finish_reason"] == "tool_calls"


async def test_overloaded_maps_status_and_retry_after(mock_upstream: MockControl) -> None:
    await mock_upstream.set_faults(status=529, retry_after="3")
    with pytest.raises(UpstreamError) as info:
        await chat(get_adapter("anthropic"), target_for(mock_upstream), BODY)
    assert (info.value.status, info.value.retry_after) == (529, 3.0)
    assert "overloaded_error" in info.value.message


async def test_cut_and_malformed_streams(mock_upstream: MockControl) -> None:
    adapter = get_adapter("anthropic")
    target = target_for(mock_upstream)
    request = adapter.chat_request(target, BODY, stream=True)
    await mock_upstream.set_faults(cut_stream_after=4)
    with pytest.raises(UpstreamProtocolError, match="before message_stop"):
        await stream_through(request, adapter.chat_stream(target, "m", include_usage=False))
    await mock_upstream.set_faults(malformed="sse")
    with pytest.raises(UpstreamProtocolError, match="stream event is not valid JSON"):
        await stream_through(request, adapter.chat_stream(target, "m", include_usage=False))
