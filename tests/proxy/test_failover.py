"""Failover end to end, and streaming failures before and after the first byte."""

import aiohttp
import openai
import pytest

from switchboard.api.profile import RetryPolicy
from tests.fixtures.proxy import ProxyFactory, SdkClient, provider_config, proxy_config
from tests.fixtures.upstream import MockFactory

MESSAGES = [{"role": "user", "content": "still here"}]


async def test_one_of_three_failing_hard_is_invisible(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    mocks = [await mock_upstream_factory() for _ in range(3)]
    await mocks[1].set_faults("mock-model", status=500)
    providers = [provider_config(f"p{i}", "openai", m.base_url) for i, m in enumerate(mocks)]
    proxy = await proxy_server(proxy_config(providers, strategy="round-robin"))
    client = sdk_client(proxy)
    served_by = set()
    for _ in range(12):
        raw = await client.chat.completions.with_raw_response.create(model="mock-model", messages=MESSAGES)  # type: ignore[arg-type]
        assert raw.parse().choices[0].message.content == "still here"
        served_by.add(raw.headers["x-switchboard-provider"])
    assert served_by == {"p0", "p2"}
    assert (await mocks[1].stats())["total"] >= 1  # it was tried, and failed over
    async with aiohttp.ClientSession() as session, session.get(proxy.base_url + "/metrics") as resp:
        text = await resp.text()
    assert 'switchboard_upstream_errors_total{kind="server_error",provider="p1"}' in text
    assert "switchboard_retries_total" in text


async def test_stream_fails_over_before_the_first_byte(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    broken, healthy = await mock_upstream_factory(), await mock_upstream_factory()
    await broken.set_faults("mock-model", status=503)
    providers = [
        provider_config("broken", "openai", broken.base_url),
        provider_config("ok", "openai", healthy.base_url),
    ]
    proxy = await proxy_server(proxy_config(providers))
    raw = await sdk_client(proxy).chat.completions.with_raw_response.create(
        model="mock-model",
        messages=MESSAGES,
        stream=True,  # type: ignore[arg-type]
    )
    assert raw.headers["x-switchboard-provider"] == "ok"
    assert raw.headers["x-switchboard-attempts"] == "2"
    text = "".join([c.choices[0].delta.content or "" async for c in raw.parse() if c.choices])
    assert text == "still here"


async def test_stream_cut_after_first_byte_ends_with_an_error_event(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    mock = await mock_upstream_factory()
    await mock.set_faults("mock-model", cut_stream_after=2)
    proxy = await proxy_server(proxy_config([provider_config("a", "openai", mock.base_url)]))
    stream = await sdk_client(proxy).chat.completions.create(
        model="mock-model", messages=[{"role": "user", "content": "a b c d e f"}], stream=True
    )
    with pytest.raises(openai.APIError, match="stream interrupted"):
        async for _ in stream:
            pass
    async with aiohttp.ClientSession() as session:
        body = {"model": "mock-model", "messages": [{"role": "user", "content": "a b c d e f"}], "stream": True}
        async with session.post(proxy.openai_base_url + "/chat/completions", json=body) as resp:
            raw = await resp.read()
    events = [e for e in raw.split(b"\n\n") if e]
    assert b'"code":"upstream_stream_error"' in events[-2]
    assert events[-1] == b"data: [DONE]"


async def test_all_providers_failing_is_502_after_retries(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    mocks = [await mock_upstream_factory() for _ in range(2)]
    for mock in mocks:
        await mock.set_faults("mock-model", status=500)
    providers = [provider_config(f"p{i}", "openai", m.base_url) for i, m in enumerate(mocks)]
    proxy = await proxy_server(proxy_config(providers, retry=RetryPolicy(max_retries=3, backoff_base_ms=1)))
    with pytest.raises(openai.InternalServerError) as info:
        await sdk_client(proxy).chat.completions.create(model="mock-model", messages=MESSAGES)  # type: ignore[arg-type]
    assert info.value.status_code == 502
    assert sum([(await m.stats())["total"] for m in mocks]) >= 2


async def test_the_profile_deadline_bounds_the_whole_request_across_attempts(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory
) -> None:
    """Both upstreams hang: the first attempt is cut at the request's deadline and no other one starts."""
    mocks = [await mock_upstream_factory() for _ in range(2)]
    for mock in mocks:
        await mock.set_faults("mock-model", hang=True)
    providers = [provider_config(f"p{i}", "openai", m.base_url) for i, m in enumerate(mocks)]
    retry = RetryPolicy(max_retries=3, backoff_base_ms=1, deadline_seconds=0.3)
    proxy = await proxy_server(proxy_config(providers, retry=retry))
    body = {"model": "mock-model", "messages": MESSAGES}
    url = proxy.base_url + "/v1/chat/completions"
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as r:
        answer = await r.json()
    assert r.status == 504
    assert answer["error"]["code"] == "upstream_timeout"
    assert r.headers["x-switchboard-attempts"] == "1"
    assert r.headers["x-switchboard-providers-tried"] == "p0"
    assert [(await m.stats())["total"] for m in mocks] == [1, 0]
