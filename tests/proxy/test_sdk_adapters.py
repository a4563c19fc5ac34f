"""The proxy through the official openai SDK, against the mock upstream, for every adapter type."""

import asyncio
from dataclasses import dataclass

import aiohttp
import openai
import pytest

from switchboard.mock.harness import MockControl
from switchboard.proxy.adapters.registry import get_adapter
from tests.fixtures.proxy import ProxyFactory, ProxyServer, SdkClient, provider_config, proxy_config
from tests.fixtures.upstream import MockFactory

ADAPTER_TYPES = ["openai", "openai-compatible", "azure-openai", "anthropic", "gemini"]
UPSTREAM_KEY = "sk-upstream-test-key"
KEY_ENV = "SB_TEST_UPSTREAM_KEY"
TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look something up",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    },
}


@dataclass
class Served:
    provider_type: str
    mock: MockControl
    proxy: ProxyServer
    sdk: openai.AsyncOpenAI

    def client(self) -> openai.AsyncOpenAI:
        return self.sdk


@pytest.fixture(params=ADAPTER_TYPES)
async def served(
    request: pytest.FixtureRequest,
    mock_upstream_factory: MockFactory,
    proxy_server: ProxyFactory,
    sdk_client: SdkClient,
    monkeypatch: pytest.MonkeyPatch,
) -> Served:
    provider_type = str(request.param)
    try:
        get_adapter(provider_type)
    except KeyError:
        pytest.skip(f"the {provider_type} adapter is not in this branch yet")
    monkeypatch.setenv(KEY_ENV, UPSTREAM_KEY)
    mock = await mock_upstream_factory(api_key=UPSTREAM_KEY)
    models = ("mock-model", "mock-embed")
    provider = provider_config("upstream", provider_type, mock.base_url, models=models, key_env=KEY_ENV)
    proxy = await proxy_server(proxy_config([provider], models=models))
    return Served(provider_type, mock, proxy, sdk_client(proxy))


async def test_chat_async_client(served: Served) -> None:
    raw = await served.client().chat.completions.with_raw_response.create(
        model="mock-model", messages=[{"role": "user", "content": "hello there proxy"}]
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "hello there proxy"
    assert completion.model == "mock-model"
    assert completion.usage is not None and completion.usage.completion_tokens == 3
    assert raw.headers["x-switchboard-provider"] == "upstream"
    assert raw.headers["x-switchboard-model"] == "mock-model"
    assert raw.headers["x-switchboard-strategy"] == "failover"
    assert raw.headers["x-switchboard-attempts"] == "1"
    assert "x-switchboard-cost-usd" not in raw.headers  # mock-model has no price: unknown, never free


async def test_chat_sync_client(served: Served) -> None:
    def call() -> str | None:
        client = openai.OpenAI(base_url=served.proxy.openai_base_url, api_key="client-key", max_retries=0)
        reply = client.chat.completions.create(model="mock-model", messages=[{"role": "user", "content": "sync hi"}])
        return reply.choices[0].message.content

    assert await asyncio.to_thread(call) == "sync hi"


async def test_streaming_with_usage(served: Served) -> None:
    stream = await served.client().chat.completions.create(
        model="mock-model",
        messages=[{"role": "user", "content": "one two three four"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = "", None
    async for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage is not None:
            usage = chunk.usage
    assert text == "one two three four"
    assert usage is not None and usage.completion_tokens == 4


async def test_streaming_without_usage(served: Served) -> None:
    stream = await served.client().chat.completions.create(
        model="mock-model", messages=[{"role": "user", "content": "just text"}], stream=True
    )
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "just text"
    assert all(c.usage is None for c in chunks)


async def test_tools_round_trip(served: Served) -> None:
    client = served.client()
    first = await client.chat.completions.create(
        model="mock-model", messages=[{"role": "user", "content": "weather in Oslo"}], tools=[TOOL]
    )
    call = first.choices[0].message.tool_calls
    assert call and call[0].function.name == "lookup"
    assert first.choices[0].finish_reason == "tool_calls"
    second = await client.chat.completions.create(
        model="mock-model",
        tools=[TOOL],
        messages=[
            {"role": "user", "content": "weather in Oslo"},
            first.choices[0].message.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": call[0].id, "content": "sunny"},
        ],
    )
    assert second.choices[0].message.content == "tool said: sunny"


async def test_streaming_tool_call(served: Served) -> None:
    stream = await served.client().chat.completions.create(
        model="mock-model", messages=[{"role": "user", "content": "find docs"}], tools=[TOOL], stream=True
    )
    names = [
        call.function.name
        async for chunk in stream
        if chunk.choices and chunk.choices[0].delta.tool_calls
        for call in chunk.choices[0].delta.tool_calls
        if call.function and call.function.name
    ]
    assert names == ["lookup"]


async def test_embeddings(served: Served) -> None:
    client = served.client()
    if not get_adapter(served.provider_type).supports_embeddings:
        with pytest.raises(openai.BadRequestError, match="have no embeddings API"):
            await client.embeddings.create(model="mock-embed", input=["a", "b"])
        return
    result = await client.embeddings.create(model="mock-embed", input=["alpha", "beta"])
    assert [d.index for d in result.data] == [0, 1]
    assert len(result.data[0].embedding) > 0
    assert result.model == "mock-embed"


async def test_models_list(served: Served) -> None:
    models = await served.client().models.list()
    assert sorted(m.id for m in models.data) == ["mock-embed", "mock-model"]


async def test_upstream_receives_the_key_but_nothing_leaks(served: Served) -> None:
    await served.client().chat.completions.create(model="mock-model", messages=[{"role": "user", "content": "k"}])
    seen = await served.mock.requests()
    assert seen, "the mock saw no request"
    async with aiohttp.ClientSession() as session, session.get(served.proxy.base_url + "/metrics") as resp:
        assert UPSTREAM_KEY not in await resp.text()
    assert served.proxy.runtime is not None
    assert UPSTREAM_KEY not in repr(served.proxy.runtime.snapshot)
