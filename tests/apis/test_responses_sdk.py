"""The official openai SDK's Responses API against the proxy, through every upstream type."""

import openai
import pytest

from tests.fixtures.sdk_apis import MOCK_DIALECT, Upstream

TOOL = {
    "type": "function",
    "name": "lookup",
    "description": "Look something up",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
}


async def _upstream_apis(served: Upstream) -> list[str]:
    return [str(r["api"]) for r in await served.mock.requests()]


async def test_create(served_upstream: Upstream) -> None:
    raw = await served_upstream.openai.responses.with_raw_response.create(
        model="mock-model", input="hello responses api", instructions="be brief"
    )
    response = raw.parse()
    assert response.output_text == "hello responses api"
    assert response.status == "completed"
    assert response.model == "mock-model"
    assert response.usage is not None and response.usage.output_tokens == 3
    assert response.usage.input_tokens >= 3
    assert raw.headers["x-switchboard-provider"] == "upstream"
    assert float(raw.headers["x-switchboard-cost-usd"]) == response.usage.input_tokens + 2 * 3
    kind = served_upstream.provider_type
    expected = "openai-responses" if kind == "openai" else MOCK_DIALECT.get(kind, kind)
    assert await _upstream_apis(served_upstream) == [expected]


async def test_stream(served_upstream: Upstream) -> None:
    async with served_upstream.openai.responses.stream(model="mock-model", input="one two three four") as stream:
        deltas = [event.delta async for event in stream if event.type == "response.output_text.delta"]
        final = await stream.get_final_response()
    assert "".join(deltas) == "one two three four"
    assert final.output_text == "one two three four"
    assert final.usage is not None and final.usage.output_tokens == 4


async def test_stream_sequence_numbers_are_consecutive(served_upstream: Upstream) -> None:
    stream = await served_upstream.openai.responses.create(model="mock-model", input="count me", stream=True)
    events = [event async for event in stream]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"


async def test_two_turn_function_call_loop(served_upstream: Upstream) -> None:
    client = served_upstream.openai
    conversation: list[object] = [{"role": "user", "content": "weather in Oslo"}]
    first = await client.responses.create(model="mock-model", input=conversation, tools=[TOOL])  # type: ignore[arg-type]
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "lookup"
    assert calls[0].arguments == '{"query":"weather in Oslo"}'
    conversation += [item.model_dump(exclude_none=True) for item in first.output]
    conversation.append({"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny"})
    second = await client.responses.create(model="mock-model", input=conversation, tools=[TOOL])  # type: ignore[arg-type]
    assert second.output_text == "tool said: sunny"


async def test_streamed_function_call(served_upstream: Upstream) -> None:
    async with served_upstream.openai.responses.stream(
        model="mock-model",
        input="find docs",
        tools=[TOOL],  # type: ignore[list-item]
    ) as stream:
        arguments = [event.delta async for event in stream if event.type == "response.function_call_arguments.delta"]
        final = await stream.get_final_response()
    (call,) = [item for item in final.output if item.type == "function_call"]
    assert call.name == "lookup" and "".join(arguments) == call.arguments == '{"query":"find docs"}'


async def test_stored_responses_are_a_clear_400(served_upstream: Upstream) -> None:
    client = served_upstream.openai
    with pytest.raises(openai.BadRequestError, match="stateless"):
        await client.responses.create(model="mock-model", input="again", previous_response_id="resp_123")
    with pytest.raises(openai.BadRequestError, match="does not store responses"):
        await client.responses.retrieve("resp_123")
    assert await served_upstream.mock.requests() == []
