"""Session bindings in a real redis-server shared by several real proxy processes, and explain in fleet mode."""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from switchboard.api.profile import SessionAffinity
from switchboard.api.provider import Limits
from switchboard.proxy.routing.affinity import rendezvous_index
from tests.fixtures.proxy import ProxyServer, provider_config, proxy_config
from tests.fixtures.redis import RedisFactory, RedisServer
from tests.fixtures.upstream import MockControl

BODY = {"model": "mock-model", "messages": [{"role": "user", "content": "hello"}]}


@dataclass(frozen=True)
class Named:
    provider_key: str
    weight: int = 1


def session_landing_on(target: str, providers: Sequence[str]) -> str:
    """A session id whose rendezvous choice (every replica's first pick for a new session) is ``target``."""
    candidates = [Named(p) for p in providers]
    return next(
        sid
        for sid in (f"session-{i}" for i in range(10_000))
        if candidates[rendezvous_index(sid, candidates)].provider_key == target
    )


async def chat(http: aiohttp.ClientSession, proxy: ProxyServer, session: str) -> tuple[int, str, str]:
    url = proxy.openai_base_url + "/chat/completions"
    async with http.post(url, json=BODY, headers={"x-session-id": session}) as r:
        await r.read()
        return r.status, r.headers.get("x-switchboard-provider", ""), r.headers.get("x-switchboard-attempts", "")


async def start_fleet(proxy_process, config, store: RedisServer, n: int) -> list[ProxyServer]:
    args = ("--state-store", store.url, "--state-store-timeout", "1")
    return list(await asyncio.gather(*(proxy_process(config, *args) for _ in range(n))))


async def bindings(store: RedisServer) -> dict[str, str]:
    client = store.client()
    try:
        return {key: await client.get(key) async for key in client.scan_iter("sb:aff:*")}
    finally:
        await client.aclose()


async def test_a_session_moves_off_an_exhausted_provider_to_one_the_whole_fleet_then_uses(
    proxy_process, redis_server: RedisFactory, mock_upstream: MockControl
) -> None:
    store = await redis_server()
    names = ["limited", "a", "b", "c"]
    providers = [
        provider_config(
            n, "openai", mock_upstream.base_url, **({"limits": Limits(requests_per_minute=3)} if n == "limited" else {})
        )
        for n in names
    ]
    config = proxy_config(providers, strategy="round-robin", session_affinity=SessionAffinity(enabled=True))
    fleet = await start_fleet(proxy_process, config, store, 3)
    moving, steady = session_landing_on("limited", names), session_landing_on("b", names)
    async with aiohttp.ClientSession() as http:
        served = [await chat(http, fleet[i % 3], moving) for i in range(9)]
        kept = [await chat(http, fleet[i % 3], steady) for i in range(6)]
        explained = await explain(http, fleet[1], moving)
    assert {s for s, _, _ in served} == {200}
    landed = [p for _, p, _ in served]
    # The rendezvous choice until its fleet-wide limit is spent (3 RPM: a test lasting seconds refills none) ...
    assert landed[:3] == ["limited"] * 3, landed
    # ... then one provider for the rest of the session, whichever replica serves it (round-robin would rotate).
    assert len(set(landed[3:])) == 1 and landed[3] != "limited", landed
    assert [p for _, p, _ in kept] == ["b"] * 6
    assert len(await bindings(store)) == 2
    # explain (dry: charges nothing, binds nothing) shows the exhausted provider and the session's provider first.
    assert explained["excluded"]["limited"] == "over a fleet-wide rate limit"
    assert explained["ranked"][0]["provider"] == landed[3]


async def test_after_a_failover_the_session_is_served_where_it_landed_by_every_replica(
    proxy_process, redis_server: RedisFactory, mock_upstream: MockControl
) -> None:
    store = await redis_server()
    names = ["down", "a", "b", "c"]
    providers = [provider_config(n, "openai", mock_upstream.base_url) for n in names[1:]]
    dead = provider_config("down", "openai", "http://127.0.0.1:9")  # nothing listens on the discard port
    config = proxy_config([dead, *providers], strategy="round-robin", session_affinity=SessionAffinity(enabled=True))
    fleet = await start_fleet(proxy_process, config, store, 2)
    session = session_landing_on("down", names)
    async with aiohttp.ClientSession() as http:
        status, first, attempts = await chat(http, fleet[0], session)
        assert (status, attempts) == (200, "2"), (status, first, attempts)  # tried "down", failed over
        async with asyncio.timeout(10):  # the rebinding is sent after the answer, with nothing waiting on it
            while list((await bindings(store)).values()) != [first]:  # noqa: ASYNC110 - another process writes
                await asyncio.sleep(0.02)
        # The other replica never saw "down" fail (its circuit is closed) yet goes straight where the session is.
        again = [await chat(http, fleet[1], session) for _ in range(3)]
    assert again == [(200, first, "1")] * 3


async def explain(http: aiohttp.ClientSession, proxy: ProxyServer, session: str) -> dict[str, Any]:
    url = proxy.base_url + "/v1/routing/explain"
    async with http.post(url, json=BODY, headers={"x-session-id": session}) as r:
        assert r.status == 200, await r.text()
        body: dict[str, Any] = await r.json()
        return body
