"""Over HTTP: the exclusions' kinds decide 429 or 503 (with Retry-After), explain shows their reasons."""

from typing import Any

import aiohttp
import openai
import pytest

from switchboard.api.provider import CircuitBreaker, Limits
from tests.fixtures.proxy import ProxyFactory, ProxyServer, SdkClient, provider_config, proxy_config
from tests.fixtures.upstream import MockFactory

MESSAGES = [{"role": "user", "content": "hi"}]


async def _explain(proxy: ProxyServer) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        body = {"model": "mock-model", "messages": MESSAGES}
        async with session.post(proxy.base_url + "/v1/routing/explain", json=body) as r:
            assert r.status == 200
            answer: dict[str, Any] = await r.json()
            return answer


async def test_every_provider_limited_is_429(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    mock = await mock_upstream_factory()
    limited = provider_config("a", "openai", mock.base_url, limits=Limits(requests_per_minute=1))
    disabled = provider_config("off", "openai", mock.base_url, disabled=True)
    proxy = await proxy_server(proxy_config([limited, disabled]))
    client = sdk_client(proxy)
    await client.chat.completions.create(model="mock-model", messages=MESSAGES)
    with pytest.raises(openai.RateLimitError) as info:
        await client.chat.completions.create(model="mock-model", messages=MESSAGES)
    assert info.value.status_code == 429
    assert isinstance(info.value.body, dict) and info.value.body["code"] == "rate_limited"
    assert int(info.value.response.headers["Retry-After"]) >= 1
    assert (await _explain(proxy))["excluded"] == {"a": "over requests-per-minute limit", "off": "disabled"}


async def test_a_limited_provider_beside_an_open_circuit_is_503(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    mock = await mock_upstream_factory()
    limited = provider_config("a", "openai", mock.base_url, limits=Limits(requests_per_minute=1))
    breaker = CircuitBreaker(consecutive_failures=1, open_seconds=120)
    fragile = provider_config("b", "openai", mock.base_url, circuit_breaker=breaker)
    proxy = await proxy_server(proxy_config([limited, fragile]))
    client = sdk_client(proxy)
    await client.chat.completions.create(model="mock-model", messages=MESSAGES)  # a's one request
    await mock.set_faults("mock-model", status=500)
    with pytest.raises(openai.InternalServerError):  # b fails once: its circuit opens
        await client.chat.completions.create(model="mock-model", messages=MESSAGES)
    with pytest.raises(openai.APIStatusError) as info:
        await client.chat.completions.create(model="mock-model", messages=MESSAGES)
    assert info.value.status_code == 503
    assert isinstance(info.value.body, dict) and info.value.body["code"] == "no_provider_available"
    assert int(info.value.response.headers["Retry-After"]) >= 1
    assert (await _explain(proxy))["excluded"] == {"a": "over requests-per-minute limit", "b": "circuit open"}
