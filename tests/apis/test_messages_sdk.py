"""The official anthropic SDK against the proxy, through every upstream type."""

import aiohttp
import anthropic
import pytest

from tests.fixtures.sdk_apis import MOCK_DIALECT, Upstream

TOOL = {
    "name": "lookup",
    "description": "Look something up",
    "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
}


async def test_create(served_upstream: Upstream) -> None:
    raw = await served_upstream.anthropic.messages.with_raw_response.create(
        model="mock-model",
        max_tokens=100,
        system=[{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "hello messages api"}],
    )
    message = await raw.parse()
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "hello messages api"  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert message.model == "mock-model"
    assert message.usage.output_tokens == 3 and message.usage.input_tokens >= 3
    assert raw.headers["x-switchboard-provider"] == "upstream"
    assert float(raw.headers["x-switchboard-cost-usd"]) == message.usage.input_tokens + 2 * 3
    (seen,) = await served_upstream.mock.requests()
    kind = served_upstream.provider_type
    assert seen["api"] == MOCK_DIALECT.get(kind, kind)
    if kind == "anthropic":  # native: the cache_control marker went through untouched
        assert seen["body"]["system"][0]["cache_control"] == {"type": "ephemeral"}


async def test_max_tokens_stop(served_upstream: Upstream) -> None:
    message = await served_upstream.anthropic.messages.create(
        model="mock-model", max_tokens=2, messages=[{"role": "user", "content": "one two three four"}]
    )
    assert message.stop_reason == "max_tokens"
    assert message.content[0].text == "one two "  # type: ignore[union-attr]


async def test_stream(served_upstream: Upstream) -> None:
    async with served_upstream.anthropic.messages.stream(
        model="mock-model", max_tokens=100, messages=[{"role": "user", "content": "one two three four"}]
    ) as stream:
        text = "".join([chunk async for chunk in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "one two three four"
    assert final.content[0].text == "one two three four"  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 4


async def test_count_tokens(served_upstream: Upstream) -> None:
    raw = await served_upstream.anthropic.messages.with_raw_response.count_tokens(
        model="mock-model", messages=[{"role": "user", "content": "count these four words"}]
    )
    count = await raw.parse()
    if served_upstream.provider_type == "anthropic":
        assert count.input_tokens == 4  # the mock's own count, one token a word
        assert "x-switchboard-token-count" not in raw.headers
    else:
        assert count.input_tokens > 0
        assert raw.headers["x-switchboard-token-count"] == "estimated"


async def test_two_turn_tool_use_loop(served_upstream: Upstream) -> None:
    client = served_upstream.anthropic
    messages: list[anthropic.types.MessageParam] = [{"role": "user", "content": "weather in Oslo"}]
    first = await client.messages.create(model="mock-model", max_tokens=100, messages=messages, tools=[TOOL])  # type: ignore[list-item]
    assert first.stop_reason == "tool_use"
    (use,) = [block for block in first.content if block.type == "tool_use"]
    assert use.name == "lookup" and use.input == {"query": "weather in Oslo"}
    messages += [
        {"role": "assistant", "content": first.content},  # type: ignore[typeddict-item]
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}]},
    ]
    second = await client.messages.create(model="mock-model", max_tokens=100, messages=messages, tools=[TOOL])  # type: ignore[list-item]
    assert second.content[0].text == "tool said: sunny"  # type: ignore[union-attr]


async def test_streamed_tool_use(served_upstream: Upstream) -> None:
    async with served_upstream.anthropic.messages.stream(
        model="mock-model",
        max_tokens=100,
        messages=[{"role": "user", "content": "find docs"}],
        tools=[TOOL],  # type: ignore[list-item]
    ) as stream:
        final = await stream.get_final_message()
    (use,) = [block for block in final.content if block.type == "tool_use"]
    assert use.input == {"query": "find docs"} and final.stop_reason == "tool_use"


async def test_errors_use_anthropic_bodies_and_sdk_classes(served_upstream: Upstream) -> None:
    client = served_upstream.anthropic
    with pytest.raises(anthropic.NotFoundError) as not_found:
        await client.messages.create(model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert not_found.value.body == {"type": "error", "error": {"type": "not_found_error", "message": AnyText()}}
    with pytest.raises(anthropic.BadRequestError, match="max_tokens"):
        await client.messages.create(model="mock-model", max_tokens=0, messages=[{"role": "user", "content": "x"}])
    async with (
        aiohttp.ClientSession() as session,
        session.post(served_upstream.proxy.base_url + "/v1/messages", data=b"{not json") as response,
    ):
        body = await response.json()
    assert response.status == 400 and body["type"] == "error" and body["error"]["type"] == "invalid_request_error"


class AnyText(str):
    """Equal to any non-empty string."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and bool(other)

    def __hash__(self) -> int:
        return 0
