"""A Service-backed provider through the real proxy app and real mock model servers on loopback.

The EndpointSlices are handed to the router's table the way the cluster-mode
follower does (the follower itself runs against a real API server in
``test_endpoints_k8s.py``); everything else is the real request path.
"""

import asyncio
import logging
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from switchboard.api.config import ProxyConfig, parse_config
from switchboard.mock.harness import MockControl, run_in_process
from switchboard.mock.state import MockOptions
from tests.fixtures.proxy import ProxyFactory, ProxyServer, SdkClient

MESSAGES = [{"role": "user", "content": "hello"}]


def config(picking: dict[str, Any], cloud_url: str | None = None) -> ProxyConfig:
    providers: list[dict[str, Any]] = [
        {
            "name": "local",
            "type": "openai-compatible",
            "service": {"name": "vllm", "port": "http"},
            "endpointPicking": picking,
            "models": [{"name": "mock-model"}],
        }
    ]
    refs = [{"name": "local"}]
    if cloud_url is not None:
        providers.append(
            {"name": "cloud", "type": "openai", "baseUrl": cloud_url + "/v1", "models": [{"name": "mock-model"}]}
        )
        refs.append({"name": "cloud"})
    profile = {"name": "default", "models": ["mock-model"], "providers": refs, "retry": {"backoffBaseMs": 0}}
    return parse_config({"providers": providers, "profiles": [profile]})


def slices(mocks: list[MockControl]) -> list[dict[str, Any]]:
    """One EndpointSlice per mock (each listens on its own port)."""
    return [
        {
            "metadata": {"name": f"vllm-{i}", "labels": {"kubernetes.io/service-name": "vllm"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": urlsplit(m.base_url).port, "protocol": "TCP"}],
            "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
        }
        for i, m in enumerate(mocks)
    ]


async def start(
    stack: AsyncExitStack, proxy_server: ProxyFactory, picking: dict[str, Any], n: int = 3, cloud: bool = False
) -> tuple[list[MockControl], MockControl | None, ProxyServer]:
    mocks = [await stack.enter_async_context(run_in_process(MockOptions(seed=i))) for i in range(n)]
    cloud_mock = await stack.enter_async_context(run_in_process()) if cloud else None
    proxy = await proxy_server(config(picking, cloud_mock.base_url if cloud_mock else None))
    assert proxy.runtime is not None
    proxy.runtime.router.endpoints.update(slices(mocks))
    return mocks, cloud_mock, proxy


async def totals(mocks: list[MockControl]) -> list[int]:
    return [int((await m.stats())["total"]) for m in mocks]


async def chat(client: SdkClient, proxy: ProxyServer) -> str:
    raw = await client(proxy).chat.completions.with_raw_response.create(model="mock-model", messages=MESSAGES)  # type: ignore[arg-type]
    assert raw.parse().choices[0].message.content == "hello"
    return raw.headers["x-switchboard-provider"]


async def test_round_robin_balances_three_endpoints(proxy_server: ProxyFactory, sdk_client: SdkClient) -> None:
    async with AsyncExitStack() as stack:
        mocks, _, proxy = await start(stack, proxy_server, {"policy": "round-robin"})
        for _ in range(30):
            await chat(sdk_client, proxy)
        assert await totals(mocks) == [10, 10, 10]


async def test_least_busy_spreads_concurrent_requests(proxy_server: ProxyFactory, sdk_client: SdkClient) -> None:
    async with AsyncExitStack() as stack:
        mocks, _, proxy = await start(stack, proxy_server, {})
        for m in mocks:
            await m.set_faults("mock-model", latency_ms=150)
        await asyncio.gather(*(chat(sdk_client, proxy) for _ in range(30)))
        counts = await totals(mocks)
        assert sum(counts) == 30 and min(counts) >= 5, counts


async def test_a_killed_endpoint_is_ejected_without_a_client_error(
    proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    async with AsyncExitStack() as stack:
        victim_stack = AsyncExitStack()
        victim = await victim_stack.enter_async_context(run_in_process())
        mocks, _, proxy = await start(stack, proxy_server, {"policy": "round-robin"}, n=2)
        assert proxy.runtime is not None
        proxy.runtime.router.endpoints.update(slices([victim, *mocks]))
        await victim_stack.aclose()  # the pod dies; its EndpointSlice entry has not caught up yet
        for _ in range(12):
            await chat(sdk_client, proxy)
        health = proxy.runtime.router.provider_health()["local"]
        assert health.endpoints == "2/3" and health.circuit == "closed"
        victim_port = urlsplit(victim.base_url).port
        assert [s.state for s in health.endpoint_states if s.address.endswith(f":{victim_port}")] == ["ejected"]
        assert sum(await totals(mocks)) == 12


async def test_saturation_spills_to_the_api_provider_and_comes_back(
    proxy_server: ProxyFactory, sdk_client: SdkClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "switchboard.proxy.access")
    async with AsyncExitStack() as stack:
        mocks, cloud, proxy = await start(stack, proxy_server, {"saturation": {"maxInFlight": 1}}, n=1, cloud=True)
        assert cloud is not None
        await mocks[0].set_faults("mock-model", latency_ms=3000)  # holds the endpoint's one slot
        slow = asyncio.create_task(chat(sdk_client, proxy))
        async with aiohttp.ClientSession() as session:
            for _ in range(200):  # until the local endpoint holds the slow call
                await asyncio.sleep(0.01)
                if (await mocks[0].stats())["total"]:
                    break
            async with session.post(proxy.base_url + "/v1/routing/explain", json={"model": "mock-model"}) as resp:
                explained = await resp.json()
            spilled_to = await chat(sdk_client, proxy)
            await mocks[0].clear_faults()
            assert await slow == "local"
            assert spilled_to == "cloud"
            assert explained["spilled"] == {"local": "saturated"}
            assert explained["excluded"]["local"].startswith("saturated: 1 of 1 endpoints full")
            assert await chat(sdk_client, proxy) == "local"  # capacity returned
            async with session.get(proxy.base_url + "/metrics") as resp:
                metrics = await resp.text()
        assert 'switchboard_spillovers_total{profile="default",provider="local",reason="saturated"} 1.0' in metrics
        lines = [r.getMessage() for r in caplog.records if r.name == "switchboard.proxy.access"]
        assert any("provider=cloud" in line and "spill=local:saturated" in line for line in lines), lines


async def test_least_queue_follows_scraped_vllm_metrics(proxy_server: ProxyFactory, sdk_client: SdkClient) -> None:
    async with AsyncExitStack() as stack:
        picking = {"policy": "least-queue", "metrics": {"intervalMs": 50}}
        mocks, _, proxy = await start(stack, proxy_server, picking)
        await mocks[0].set_engine_load(waiting=7)
        await mocks[2].set_engine_load(waiting=3)
        assert proxy.runtime is not None
        pool = proxy.runtime.router.endpoints.pools["local"]
        for _ in range(300):
            await asyncio.sleep(0.02)
            if sorted(m.waiting or 0 for m in pool.members.values()) == [0, 3, 7]:
                break
        for _ in range(6):
            await chat(sdk_client, proxy)
        assert await totals(mocks) == [0, 6, 0]


async def test_prefix_affinity_keeps_a_conversation_on_one_endpoint(
    proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    async with AsyncExitStack() as stack:
        mocks, _, proxy = await start(stack, proxy_server, {"policy": "prefix-affinity", "prefixChars": 64})
        for _ in range(8):
            await chat(sdk_client, proxy)
        counts = await totals(mocks)
        assert sorted(counts) == [0, 0, 8]


async def test_an_endpoint_removed_mid_request_finishes_it_then_its_pool_closes(
    proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    async with AsyncExitStack() as stack:
        mocks, _, proxy = await start(stack, proxy_server, {}, n=2)
        assert proxy.runtime is not None
        runtime = proxy.runtime
        await mocks[0].set_faults("mock-model", latency_ms=1500)
        await mocks[1].set_faults("mock-model", latency_ms=1500)
        calls = [asyncio.create_task(chat(sdk_client, proxy)) for _ in range(2)]
        for _ in range(300):  # until both endpoints hold a call
            await asyncio.sleep(0.01)
            if await totals(mocks) == [1, 1]:
                break
        runtime.follow_slices(slices(mocks[1:]))  # mocks[0] leaves the Service with a call in flight
        pool = runtime.router.endpoints.pools["local"]
        gone = f"127.0.0.1:{urlsplit(mocks[0].base_url).port}"
        assert pool.members[gone].removed and ("local", gone) in runtime.endpoint_calls.pooled
        assert await asyncio.gather(*calls) == ["local", "local"]
        assert gone not in pool.members
        assert ("local", gone) not in runtime.endpoint_calls.pooled
