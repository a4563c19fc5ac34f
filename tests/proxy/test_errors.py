"""Every error the proxy answers, with its status and OpenAI error body."""

from typing import Any

import aiohttp
import openai
import pytest

from switchboard.api.profile import RateLimit, RetryPolicy
from switchboard.api.provider import CircuitBreaker, Limits, Timeouts
from switchboard.proxy.app import AppOptions
from tests.fixtures.proxy import ProxyFactory, ProxyServer, SdkClient, provider_config, proxy_config
from tests.fixtures.upstream import MockFactory
from tests.hardening.checks import metrics_text

MESSAGES = [{"role": "user", "content": "hi"}]


async def _raw(proxy: ProxyServer, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any], Any]:
    async with aiohttp.ClientSession() as session, session.request(method, proxy.base_url + path, **kwargs) as r:
        return r.status, dict(r.headers), await r.json()


def _assert_error_body(body: dict[str, Any], *, code: str | None = None, param: str | None = None) -> None:
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "code", "param"}
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    if param is not None:
        assert error["param"] == param


@pytest.fixture
async def proxy(mock_upstream_factory: MockFactory, proxy_server: ProxyFactory) -> ProxyServer:
    mock = await mock_upstream_factory()
    return await proxy_server(proxy_config([provider_config("a", "openai", mock.base_url)]))


async def test_malformed_json_is_400(proxy: ProxyServer) -> None:
    status, _, body = await _raw(
        proxy, "POST", "/v1/chat/completions", data=b'{"model": ', headers={"Content-Type": "application/json"}
    )
    assert status == 400
    _assert_error_body(body, code="invalid_json")


async def test_invalid_param_is_400_naming_it(proxy: ProxyServer, sdk_client: SdkClient) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await sdk_client(proxy).chat.completions.create(model="mock-model", messages=MESSAGES, temperature=3)
    assert info.value.status_code == 400
    assert isinstance(info.value.body, dict) and info.value.body["param"] == "temperature"
    status, _, body = await _raw(
        proxy, "POST", "/v1/chat/completions", json={"model": "mock-model", "messages": [{"role": "bot"}]}
    )
    assert status == 400
    _assert_error_body(body, param="messages[0].role")


async def test_unknown_model_is_404(proxy: ProxyServer, sdk_client: SdkClient) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        await sdk_client(proxy).chat.completions.create(model="no-such-model", messages=MESSAGES)
    assert isinstance(info.value.body, dict) and info.value.body["code"] == "model_not_found"
    assert info.value.body["param"] == "model"


async def test_unknown_route_and_method_are_openai_errors(proxy: ProxyServer) -> None:
    status, headers, body = await _raw(proxy, "GET", "/v1/nothing-here")
    assert status == 404 and headers["Content-Type"].startswith("application/json")
    _assert_error_body(body, code="unknown_url")
    status, headers, body = await _raw(proxy, "GET", "/v1/chat/completions")
    assert status == 405 and headers["Allow"] == "POST"
    _assert_error_body(body, code="method_not_allowed")
    assert headers["Server"] == "switchboard"  # no aiohttp or Python version to fingerprint


async def test_body_too_large_is_413(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    mock = await mock_upstream_factory()
    proxy = await proxy_server(
        proxy_config([provider_config("a", "openai", mock.base_url)]), options=AppOptions(max_body_bytes=2048)
    )
    big = [{"role": "user", "content": "x" * 5000}]
    with pytest.raises(openai.APIStatusError) as info:
        await sdk_client(proxy).chat.completions.create(model="mock-model", messages=big)  # type: ignore[arg-type]
    assert info.value.status_code == 413
    assert isinstance(info.value.body, dict) and info.value.body["code"] == "request_too_large"


async def test_rate_limited_is_429_with_retry_after(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    mock = await mock_upstream_factory()
    config = proxy_config([provider_config("a", "openai", mock.base_url)], rate_limit=RateLimit(requests_per_minute=1))
    proxy = await proxy_server(config)
    client = sdk_client(proxy)
    await client.chat.completions.create(model="mock-model", messages=MESSAGES)
    with pytest.raises(openai.RateLimitError) as info:
        await client.chat.completions.create(model="mock-model", messages=MESSAGES)
    assert int(info.value.response.headers["Retry-After"]) >= 1
    assert isinstance(info.value.body, dict) and info.value.body["code"] == "rate_limited"
    assert 'endpoint="chat/completions",profile="default",provider="none",status="429"' in await metrics_text(proxy)


async def test_upstream_garbage_is_502(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    mock = await mock_upstream_factory()
    await mock.set_faults("mock-model", malformed="json")
    proxy = await proxy_server(proxy_config([provider_config("a", "openai", mock.base_url)]))
    with pytest.raises(openai.APIStatusError) as info:
        await sdk_client(proxy).chat.completions.create(model="mock-model", messages=MESSAGES)
    assert info.value.status_code == 502
    assert isinstance(info.value.body, dict) and info.value.body["code"] == "upstream_error"
    assert info.value.response.headers["x-switchboard-attempts"] == "1"
    assert info.value.response.headers["x-switchboard-providers-tried"] == "a"


async def test_no_provider_available_is_503(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    mock = await mock_upstream_factory()
    proxy = await proxy_server(proxy_config([provider_config("a", "openai", mock.base_url, disabled=True)]))
    with pytest.raises(openai.APIStatusError) as info:
        await sdk_client(proxy).chat.completions.create(model="mock-model", messages=MESSAGES)
    assert info.value.status_code == 503
    assert isinstance(info.value.body, dict) and info.value.body["code"] == "no_provider_available"
    assert 'endpoint="chat/completions",profile="default",provider="none",status="503"' in await metrics_text(proxy)


async def test_upstream_timeout_is_504(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    mock = await mock_upstream_factory()
    await mock.set_faults("mock-model", latency_ms=3000)
    provider = provider_config("a", "openai", mock.base_url, timeouts=Timeouts(first_byte_seconds=0.2))
    proxy = await proxy_server(proxy_config([provider], retry=RetryPolicy(max_retries=0)))
    with pytest.raises(openai.APIStatusError) as info:
        await sdk_client(proxy).chat.completions.create(model="mock-model", messages=MESSAGES)
    assert info.value.status_code == 504
    assert isinstance(info.value.body, dict) and info.value.body["code"] == "upstream_timeout"


async def test_upstream_client_error_passes_through_as_400(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    mock = await mock_upstream_factory()
    await mock.set_faults("mock-model", status=400)
    proxy = await proxy_server(proxy_config([provider_config("a", "openai", mock.base_url)]))
    with pytest.raises(openai.BadRequestError):
        await sdk_client(proxy).chat.completions.create(model="mock-model", messages=MESSAGES)
    assert (await mock.stats())["total"] == 1  # a client error is never retried


async def test_not_ready_until_a_valid_config(proxy_server: ProxyFactory) -> None:
    proxy = await proxy_server("providers: [{name: a}]", wait_ready=False)
    status, _, body = await _raw(proxy, "GET", "/readyz")
    assert status == 503
    assert "providers[0]" in body["reason"]
    status, _, body = await _raw(proxy, "POST", "/v1/chat/completions", json={"model": "m", "messages": MESSAGES})
    assert status == 503
    _assert_error_body(body, code="not_ready")
    status, _, body = await _raw(proxy, "GET", "/healthz")
    assert status == 200


async def test_retry_after_is_the_engines_wait_hint(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    """On the router's clock (injected, standing still unless moved): the wait is exact, and true."""
    mock = await mock_upstream_factory()
    now = [1000.0]
    breaker = CircuitBreaker(consecutive_failures=1, open_seconds=120)
    limited = provider_config("a", "openai", mock.base_url, limits=Limits(requests_per_minute=2))
    proxy = await proxy_server(
        proxy_config([limited, provider_config("b", "openai", mock.base_url, circuit_breaker=breaker)]),
        options=AppOptions(routing_clock=lambda: now[0]),
    )
    client = sdk_client(proxy)
    await client.chat.completions.create(model="mock-model", messages=MESSAGES)
    await client.chat.completions.create(model="mock-model", messages=MESSAGES)
    await mock.set_faults("mock-model", status=500)
    with pytest.raises(openai.InternalServerError):  # b fails once: its circuit opens for 120 s
        await client.chat.completions.create(model="mock-model", messages=MESSAGES)

    async def refused_for() -> str:
        with pytest.raises(openai.APIStatusError) as info:
            await client.chat.completions.create(model="mock-model", messages=MESSAGES)
        assert info.value.status_code == 503
        return info.value.response.headers["Retry-After"]

    # a refills one request in 30 s, b half-opens in 120 s: the earlier wins
    assert await refused_for() == "30"
    now[0] += 20
    assert await refused_for() == "10"
    await mock.clear_faults()
    now[0] += 10  # the wait is over: a serves again
    reply = await client.chat.completions.create(model="mock-model", messages=MESSAGES)
    assert reply.choices[0].message.content == MESSAGES[0]["content"]
