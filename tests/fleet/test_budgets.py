"""Dollar budgets: shared spend across real proxy processes, soft downgrade, hard 429 budget_exceeded."""

import asyncio
from pathlib import Path

import aiohttp

from switchboard.api.profile import Budget
from switchboard.api.provider import Pricing, ProviderModel
from tests.fixtures.proxy import ProxyServer, provider_config, proxy_config
from tests.fixtures.redis import RedisFactory, RedisServer
from tests.fixtures.upstream import MockControl

BODY = {"model": "mock-model", "messages": [{"role": "user", "content": "hello"}]}  # 1 token in, 1 token out
DOLLAR_A_TOKEN = Pricing(input_per_million=1_000_000, output_per_million=2_000_000)  # $3 per answer
CHEAP = Pricing(input_per_million=100_000, output_per_million=200_000)  # $0.30 per answer


def priced(name: str, mock: MockControl, pricing: Pricing):
    return provider_config(name, "openai", mock.base_url).model_copy(
        update={"models": (ProviderModel(name="mock-model", pricing=pricing),)}
    )


async def post(session: aiohttp.ClientSession, proxy: ProxyServer, **headers: str) -> tuple[int, dict, dict]:
    async with session.post(proxy.openai_base_url + "/chat/completions", json=BODY, headers=headers) as r:
        return r.status, dict(r.headers), await r.json()


async def spent(store: RedisServer, at_least: float) -> float:
    """The profile's spend in the store, once it reached ``at_least`` (it is added after each answer)."""
    client = store.client()
    try:
        for _ in range(200):
            keys = await client.keys("sb:spend:profile:*")
            total = sum([float(await client.get(k) or 0) for k in keys])
            if total >= at_least - 1e-9:
                return total
            await asyncio.sleep(0.02)
        return total
    finally:
        await client.aclose()


async def test_a_profile_budget_is_shared_by_the_fleet_and_refuses_past_its_limit(
    proxy_process, redis_server: RedisFactory, mock_upstream: MockControl
) -> None:
    store = await redis_server()
    config = proxy_config([priced("mock", mock_upstream, DOLLAR_A_TOKEN)], budget=Budget(period="day", limit_usd=10))
    args = ("--state-store", store.url, "--state-store-timeout", "1")
    fleet = [await proxy_process(config, *args) for _ in range(2)]
    async with aiohttp.ClientSession() as session:
        for n in range(1, 5):  # $0, $3, $6, $9 spent before each: all under $10
            status, headers, _ = await post(session, fleet[n % 2])
            assert status == 200 and headers["x-switchboard-cost-usd"] == "3"
            assert await spent(store, 3 * n) == 3 * n
        for proxy in fleet:
            status, headers, body = await post(session, proxy)
            assert status == 429
            assert body["error"]["code"] == "budget_exceeded"
            assert "spent $12 of $10" in body["error"]["message"]
            assert "resets at" in body["error"]["message"] and "T00:00:00Z" in body["error"]["message"]
            assert int(headers["Retry-After"]) >= 1
        async with session.get(fleet[0].base_url + "/metrics") as r:
            exported = await r.text()
            assert 'switchboard_budget_spent_usd{budget="profile:default"} 12.0' in exported
            assert 'switchboard_budget_limit_usd{budget="profile:default"} 10.0' in exported


async def test_past_the_soft_threshold_downgrade_serves_the_cheapest_provider_first(
    proxy_process, redis_server: RedisFactory, mock_upstream: MockControl
) -> None:
    store = await redis_server()
    budget = Budget(period="month", limit_usd=100, soft_percent=5, soft_action="downgrade")  # soft at $5
    providers = [priced("pricey", mock_upstream, DOLLAR_A_TOKEN), priced("cheap", mock_upstream, CHEAP)]
    proxy = await proxy_process(proxy_config(providers, budget=budget), "--state-store", store.url)
    async with aiohttp.ClientSession() as session:
        served = []
        for n in range(1, 4):
            status, headers, _ = await post(session, proxy)
            assert status == 200
            served.append((headers["x-switchboard-provider"], headers.get("x-switchboard-budget")))
            await spent(store, 3 * min(n, 2) + 0.3 * max(0, n - 2))
    assert served == [("pricey", None), ("pricey", None), ("cheap", "downgraded")]


async def test_a_client_key_budget_holds_without_a_store_too(
    proxy_process, mock_upstream: MockControl, tmp_path: Path
) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text(
        "keys:\n"
        "  - {name: capped, key: sk-capped-0123456789abcdef, profiles: ['*'],"
        " budget: {period: day, limitUsd: 5}}\n"
    )
    config = proxy_config([priced("mock", mock_upstream, DOLLAR_A_TOKEN)])
    proxy = await proxy_process(config, "--api-keys-file", str(keys))
    auth = {"Authorization": "Bearer sk-capped-0123456789abcdef"}
    async with aiohttp.ClientSession() as session:
        statuses = []
        for _ in range(4):
            status, _, body = await post(session, proxy, **auth)
            statuses.append(status)  # without a store the spend is recorded before the answer leaves
    assert statuses == [200, 200, 429, 429]
    assert body["error"]["code"] == "budget_exceeded" and "client 'capped'" in body["error"]["message"]
