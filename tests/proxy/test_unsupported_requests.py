"""Providers that cannot express a request are excluded for it, with the reason; a 400 only when none can.

The same for every client API: a Responses request is skipped by the providers that cannot express its
chat translation, like a chat request.
"""

import aiohttp
import openai
import pytest

from tests.fixtures.proxy import ProxyFactory, ProxyServer, SdkClient, provider_config, proxy_config
from tests.fixtures.upstream import MockFactory
from tests.hardening.checks import upstream_error_count

MESSAGES = [{"role": "user", "content": "two please"}]
JSON_OBJECT = {"format": {"type": "json_object"}}


async def mixed_proxy(mock_upstream_factory: MockFactory, proxy_server: ProxyFactory) -> ProxyServer:
    """A round-robin profile of an anthropic and an openai provider (round-robin puts claude first every other time)."""
    mock = await mock_upstream_factory()
    providers = [provider_config("claude", "anthropic", mock.base_url), provider_config("gpt", "openai", mock.base_url)]
    return await proxy_server(proxy_config(providers, strategy="round-robin"))


async def test_a_mixed_profile_serves_what_only_some_providers_can_express(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    proxy = await mixed_proxy(mock_upstream_factory, proxy_server)
    client = sdk_client(proxy)
    for _ in range(4):
        raw = await client.chat.completions.with_raw_response.create(model="mock-model", messages=MESSAGES, n=2)  # type: ignore[arg-type]
        assert raw.headers["x-switchboard-provider"] == "gpt"
        assert raw.headers["x-switchboard-attempts"] == "1"  # skipping claude is not an attempt
    plain = {
        raw.headers["x-switchboard-provider"]
        for raw in [
            await client.chat.completions.with_raw_response.create(model="mock-model", messages=MESSAGES)  # type: ignore[arg-type]
            for _ in range(2)
        ]
    }
    assert plain == {"claude", "gpt"}  # requests both can express still use both
    assert await upstream_error_count(proxy, "claude") == 0
    body = {"model": "mock-model", "messages": MESSAGES, "n": 2}
    async with (
        aiohttp.ClientSession() as session,
        session.post(proxy.base_url + "/v1/routing/explain", json=body) as response,
    ):
        explained = await response.json()
    assert [c["provider"] for c in explained["ranked"]] == ["gpt"]
    assert (
        explained["excluded"]["claude"].startswith("unsupported request: ")
        and "n must be 1" in explained["excluded"]["claude"]
    )


async def test_a_request_no_provider_can_express_is_a_400_naming_each_reason(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    mock = await mock_upstream_factory()
    proxy = await proxy_server(proxy_config([provider_config("claude", "anthropic", mock.base_url)]))
    with pytest.raises(openai.BadRequestError, match=r"claude: .*n must be 1"):
        await sdk_client(proxy).chat.completions.create(model="mock-model", messages=MESSAGES, n=2)  # type: ignore[arg-type]
    assert (await mock.stats())["total"] == 0


async def test_a_mixed_profile_serves_a_responses_request_only_openai_can_express(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    proxy = await mixed_proxy(mock_upstream_factory, proxy_server)
    client = sdk_client(proxy)
    for stream in (False, True, False, True):
        raw = await client.responses.with_raw_response.create(
            model="mock-model",
            input="answer in JSON",
            text=JSON_OBJECT,
            stream=stream,  # type: ignore[arg-type]
        )
        assert raw.headers["x-switchboard-provider"] == "gpt"
        assert raw.headers["x-switchboard-attempts"] == "1"
    answered = [await client.responses.with_raw_response.create(model="mock-model", input="hi") for _ in range(2)]
    assert {raw.headers["x-switchboard-provider"] for raw in answered} == {"claude", "gpt"}
    assert await upstream_error_count(proxy, "claude") == 0


async def test_a_responses_request_no_provider_can_express_is_a_400_naming_the_reason(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    mock = await mock_upstream_factory()
    proxy = await proxy_server(proxy_config([provider_config("claude", "anthropic", mock.base_url)]))
    with pytest.raises(openai.BadRequestError, match=r"claude: .*json_object.* not supported by anthropic"):
        await sdk_client(proxy).responses.create(model="mock-model", input="answer in JSON", text=JSON_OBJECT)  # type: ignore[arg-type]
    assert (await mock.stats())["total"] == 0


async def test_a_responses_request_without_a_chat_message_is_a_400_for_chat_upstreams(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    """Its chat translation has no message (an earlier turn's reasoning only): only native upstreams could take it."""
    reasoning_only = [{"type": "reasoning", "id": "rs_1", "summary": []}]
    mock = await mock_upstream_factory()
    claude_only = await proxy_server(proxy_config([provider_config("claude", "anthropic", mock.base_url)]))
    with pytest.raises(openai.BadRequestError, match=r"no chat translation: 'messages' must be a non-empty array"):
        await sdk_client(claude_only).responses.create(model="mock-model", input=reasoning_only)  # type: ignore[arg-type]
    assert (await mock.stats())["total"] == 0


async def test_explaining_a_chat_request_with_malformed_messages_excludes_every_provider_with_the_reason(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory
) -> None:
    proxy = await mixed_proxy(mock_upstream_factory, proxy_server)
    body = {"model": "mock-model", "messages": [{"content": "no role"}]}
    async with (
        aiohttp.ClientSession() as session,
        session.post(proxy.base_url + "/v1/routing/explain", json=body) as response,
    ):
        explained = await response.json()
    assert explained["ranked"] == []
    reason = "unsupported request: messages[0] must be an object with a 'role'"
    assert explained["excluded"] == {"claude": reason, "gpt": reason}
