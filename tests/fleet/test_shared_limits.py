"""Fleet-wide limits through a real redis-server shared by several real proxy processes."""

import asyncio
import math
import time
from collections import Counter
from pathlib import Path

import aiohttp

from switchboard.api.profile import RateLimit
from switchboard.api.provider import Limits
from tests.fixtures.proxy import ProxyServer, provider_config, proxy_config
from tests.fixtures.redis import RedisFactory
from tests.fixtures.upstream import MockControl

MESSAGE = {"model": "mock-model", "messages": [{"role": "user", "content": "hello"}]}


async def post(session: aiohttp.ClientSession, proxy: ProxyServer, body: dict[str, object] = MESSAGE, **headers: str):
    async with session.post(proxy.openai_base_url + "/chat/completions", json=body, headers=headers) as r:
        await r.read()
        return r.status, dict(r.headers)


def refill(per_minute: int, began: float) -> int:
    """Requests a bucket regains while the test runs: the only slack an exact limit allows."""
    return math.ceil((time.monotonic() - began) * per_minute / 60)


async def start_fleet(proxy_process, config, redis_url: str, n: int, *extra: str) -> list[ProxyServer]:
    """``n`` proxies sharing ``redis_url``; a generous store timeout, as a loaded test machine can be slow."""
    args = ("--state-store", redis_url, "--state-store-timeout", "1", *extra)
    return list(await asyncio.gather(*(proxy_process(config, *args) for _ in range(n))))


async def test_three_replicas_serve_the_profile_limit_exactly_however_traffic_lands(
    proxy_process, redis_server: RedisFactory, mock_upstream: MockControl
) -> None:
    store = await redis_server()
    rpm = 30
    config = proxy_config(
        [provider_config("mock", "openai", mock_upstream.base_url)], rate_limit=RateLimit(requests_per_minute=rpm)
    )
    fleet = await start_fleet(proxy_process, config, store.url, 3)
    async with aiohttp.ClientSession() as session:
        began = time.monotonic()
        statuses = [s for s, _ in await asyncio.gather(*(post(session, fleet[0]) for _ in range(2 * rpm)))]
        served = statuses.count(200)
        assert statuses.count(429) == len(statuses) - served
        assert rpm <= served <= rpm + refill(rpm, began)

        # The same fleet, spread: the bucket is shared, so the others have only what refilled since.
        for _ in range(refill(rpm, began) + 1):
            status, headers = await post(session, fleet[1])
            if status == 429:
                break
        assert status == 429
        assert int(headers["Retry-After"]) >= 1
        assert headers["x-ratelimit-limit-requests"] == str(rpm)
        assert headers["x-ratelimit-remaining-requests"] == "0"

    await store.client().flushall()  # a fresh minute
    async with aiohttp.ClientSession() as session:
        began = time.monotonic()
        spread = await asyncio.gather(*(post(session, fleet[i % 3]) for i in range(2 * rpm)))
        served = [s for s, _ in spread].count(200)
        assert rpm <= served <= rpm + refill(rpm, began)
        ok_headers = next(h for s, h in spread if s == 200)
        assert ok_headers["x-ratelimit-limit-requests"] == str(rpm)
        assert int(ok_headers["x-ratelimit-remaining-requests"]) < rpm


async def test_a_provider_over_its_fleet_limit_is_skipped_for_the_next(
    proxy_process, redis_server: RedisFactory, mock_upstream: MockControl
) -> None:
    store = await redis_server()
    limited = provider_config("limited", "openai", mock_upstream.base_url, limits=Limits(requests_per_minute=5))
    spare = provider_config("spare", "openai", mock_upstream.base_url)
    fleet = await start_fleet(proxy_process, proxy_config([limited, spare]), store.url, 2)
    async with aiohttp.ClientSession() as session:
        began = time.monotonic()
        answers = [await post(session, fleet[i % 2]) for i in range(12)]
    assert {s for s, _ in answers} == {200}
    by_provider = Counter(h["x-switchboard-provider"] for _, h in answers)
    assert 5 <= by_provider["limited"] <= 5 + refill(5, began)
    assert by_provider["spare"] == 12 - by_provider["limited"]


async def test_tokens_are_reserved_from_max_tokens_and_reconciled_with_usage(
    proxy_process, redis_server: RedisFactory, mock_upstream: MockControl
) -> None:
    """Each request reserves ~prompt + 900 of a 1000 TPM bucket; only reconciliation lets the next one in."""
    store = await redis_server()
    config = proxy_config(
        [provider_config("mock", "openai", mock_upstream.base_url)], rate_limit=RateLimit(tokens_per_minute=1000)
    )
    fleet = await start_fleet(proxy_process, config, store.url, 2)
    body = {**MESSAGE, "max_tokens": 900}
    streamed = {**body, "stream": True, "stream_options": {"include_usage": True}}
    async with aiohttp.ClientSession() as session:
        for i, each in enumerate([body, streamed, body, streamed]):
            status, headers = await post(session, fleet[i % 2], each)
            assert status == 200, headers
            await wait_reconciled(session, fleet[i % 2])
        # Two at once cannot both hold 900: the reservation stops the second before it starts. The upstream
        # is slow so that the first is still in flight (its reservation held) when the second is admitted.
        await mock_upstream.set_faults("*", latency_ms=2000)
        both = await asyncio.gather(post(session, fleet[0], body), post(session, fleet[1], body))
    assert sorted(s for s, _ in both) == [200, 429]


async def wait_reconciled(session: aiohttp.ClientSession, proxy: ProxyServer) -> None:
    """The reconciliation is sent after the answer (nothing waits on it): poll the headers until it landed."""
    for _ in range(200):
        status, headers = await post(session, proxy, {**MESSAGE, "max_tokens": 1})
        if status == 200 and int(headers["x-ratelimit-remaining-tokens"]) > 900:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"tokens not given back: {headers}")


async def test_client_keys_have_their_own_fleet_wide_limits(
    proxy_process, redis_server: RedisFactory, mock_upstream: MockControl, tmp_path: Path
) -> None:
    store = await redis_server()
    keys = tmp_path / "keys.yaml"
    keys.write_text(
        "keys:\n"
        "  - {name: small, key: sk-small-0123456789abcdef, profiles: ['*'], rateLimit: {requestsPerMinute: 3}}\n"
        "  - {name: big, key: sk-big-0123456789abcdefgh, profiles: ['*']}\n"
    )
    config = proxy_config([provider_config("mock", "openai", mock_upstream.base_url)])
    fleet = await start_fleet(proxy_process, config, store.url, 2, "--api-keys-file", str(keys))
    small = {"Authorization": "Bearer sk-small-0123456789abcdef"}
    big = {"Authorization": "Bearer sk-big-0123456789abcdefgh"}
    async with aiohttp.ClientSession() as session:
        answers = [await post(session, fleet[i % 2], **small) for i in range(5)]
        assert [s for s, _ in answers] == [200, 200, 200, 429, 429]
        assert answers[-1][1]["x-ratelimit-limit-requests"] == "3"
        assert [(await post(session, fleet[i % 2], **big))[0] for i in range(5)] == [200] * 5
