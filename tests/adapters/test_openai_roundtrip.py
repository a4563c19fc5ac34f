"""OpenAI and OpenAI-compatible adapters against the real mock upstream over loopback."""

import orjson
import pytest

from switchboard.mock.harness import MockControl
from switchboard.proxy.adapters.base import UpstreamError, UpstreamProtocolError, Usage
from switchboard.proxy.adapters.registry import get_adapter
from tests.adapters.support import chat, decode_events, make_target, send, stream_text, stream_through
from tests.fixtures.upstream import MockFactory

BODY = {
    "model": "public-model",
    "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there world"}],
}


async def test_chat_round_trip_renames_model_and_reports_usage(mock_upstream: MockControl) -> None:
    adapter = get_adapter("openai")
    target = make_target("openai", mock_upstream.base_url + "/v1")
    response, usage = await chat(adapter, target, BODY)
    assert response["choices"][0]["message"]["content"] == "hello there world"
    assert response["model"] == "public-model"
    assert usage == Usage(prompt_tokens=5, completion_tokens=3)
    [seen] = await mock_upstream.requests()
    assert seen["model"] == "upstream-model"


@pytest.mark.parametrize("include_usage", [True, False])
async def test_stream_round_trip(mock_upstream: MockControl, include_usage: bool) -> None:
    adapter = get_adapter("openai-compatible")
    target = make_target("openai-compatible", mock_upstream.base_url + "/v1", api_key=None)
    translator = adapter.chat_stream(target, "public-model", include_usage=include_usage)
    events = await stream_through(adapter.chat_request(target, BODY, stream=True), translator)
    payloads = decode_events(events)
    assert payloads[-1] == "[DONE]"
    assert stream_text(payloads) == "hello there world"
    assert all(p["model"] == "public-model" for p in payloads[:-1])
    assert translator.usage == Usage(5, 3)
    usage_chunks = [p for p in payloads[:-1] if "usage" in p]
    assert len(usage_chunks) == (1 if include_usage else 0)
    if include_usage:
        assert usage_chunks[0]["choices"] == [] and usage_chunks[0]["usage"]["total_tokens"] == 8


async def test_tool_call_round_trip(mock_upstream: MockControl) -> None:
    adapter = get_adapter("openai")
    target = make_target("openai", mock_upstream.base_url + "/v1")
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    response, _ = await chat(adapter, target, {**BODY, "tools": tools})
    choice = response["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["function"]["name"] == "lookup"


async def test_embeddings_round_trip(mock_upstream: MockControl) -> None:
    adapter = get_adapter("openai")
    target = make_target("openai", mock_upstream.base_url + "/v1")
    status, _, raw = await send(adapter.embeddings_request(target, {"model": "public-model", "input": ["a b", "c"]}))
    assert status == 200
    response, body, usage = adapter.embeddings_response(target, "public-model", raw)
    assert orjson.loads(body) == response
    assert [d["index"] for d in response["data"]] == [0, 1]
    assert response["model"] == "public-model"
    assert usage == Usage(prompt_tokens=3, completion_tokens=0)


async def test_wrong_key_maps_to_401(mock_upstream_factory: MockFactory) -> None:
    mock = await mock_upstream_factory(api_key="right")
    adapter = get_adapter("openai")
    target = make_target("openai", mock.base_url + "/v1", api_key="wrong")
    with pytest.raises(UpstreamError) as info:
        await chat(adapter, target, BODY)
    assert info.value.status == 401
    assert "Incorrect API key" in info.value.message


async def test_injected_429_carries_retry_after(mock_upstream: MockControl) -> None:
    await mock_upstream.set_faults("upstream-model", status=429, retry_after="7")
    adapter = get_adapter("openai")
    target = make_target("openai", mock_upstream.base_url + "/v1")
    with pytest.raises(UpstreamError) as info:
        await chat(adapter, target, BODY)
    assert (info.value.status, info.value.retry_after) == (429, 7.0)
    await mock_upstream.clear_faults()
    response, _ = await chat(adapter, target, BODY)
    assert response["choices"][0]["message"]["content"] == "hello there world"


async def test_cut_stream_is_a_protocol_error(mock_upstream: MockControl) -> None:
    await mock_upstream.set_faults("upstream-model", cut_stream_after=2)
    adapter = get_adapter("openai")
    target = make_target("openai", mock_upstream.base_url + "/v1")
    translator = adapter.chat_stream(target, "public-model", include_usage=False)
    with pytest.raises(UpstreamProtocolError, match=r"ended before data: \[DONE\]"):
        await stream_through(adapter.chat_request(target, BODY, stream=True), translator)


async def test_malformed_json_is_a_protocol_error(mock_upstream: MockControl) -> None:
    await mock_upstream.set_faults(malformed="json")
    adapter = get_adapter("openai")
    target = make_target("openai", mock_upstream.base_url + "/v1")
    with pytest.raises(UpstreamProtocolError, match="chat response is not valid JSON"):
        await chat(adapter, target, BODY)
