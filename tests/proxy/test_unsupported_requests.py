"""Providers that cannot express a request are excluded for it, with the reason; a 400 only when none can."""

import aiohttp
import openai
import pytest

from tests.fixtures.proxy import ProxyFactory, SdkClient, provider_config, proxy_config
from tests.fixtures.upstream import MockFactory
from tests.hardening.checks import upstream_error_count

MESSAGES = [{"role": "user", "content": "two please"}]


async def test_a_mixed_profile_serves_what_only_some_providers_can_express(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    mock = await mock_upstream_factory()
    providers = [provider_config("claude", "anthropic", mock.base_url), provider_config("gpt", "openai", mock.base_url)]
    proxy = await proxy_server(proxy_config(providers, strategy="round-robin"))
    client = sdk_client(proxy)
    for _ in range(4):  # round-robin would put claude first every other time
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
