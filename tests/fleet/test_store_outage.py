"""The state store dies, hangs and comes back under load: requests keep flowing, limits fall back to 1/N."""

import asyncio
from pathlib import Path

import aiohttp
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from switchboard.api.config import Fleet
from switchboard.api.profile import RateLimit
from switchboard.proxy.fleet.buckets import Slots, limit_buckets
from switchboard.proxy.fleet.store import FleetStore, StoreSettings
from switchboard.proxy.metric_values import WorkerFiles
from tests.fixtures.proxy import ProxyServer, provider_config, proxy_config
from tests.fixtures.redis import RedisFactory
from tests.fixtures.upstream import MockControl

MESSAGE = {"model": "mock-model", "messages": [{"role": "user", "content": "hello"}]}


async def post(session: aiohttp.ClientSession, proxy: ProxyServer) -> int:
    async with session.post(proxy.openai_base_url + "/chat/completions", json=MESSAGE) as r:
        await r.read()
        return r.status


async def store_up(session: aiohttp.ClientSession, proxy: ProxyServer) -> float:
    async with session.get(proxy.base_url + "/metrics") as r:
        text = await r.text()
    line = next(x for x in text.splitlines() if x.startswith("switchboard_state_store_up"))
    return float(line.split()[-1])


async def wait_store_up(session: aiohttp.ClientSession, proxy: ProxyServer, value: float) -> None:
    for _ in range(300):
        if await store_up(session, proxy) == value:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"switchboard_state_store_up never became {value}")


async def test_a_stopped_store_fails_open_to_local_shares_and_recovers(
    proxy_process, redis_server: RedisFactory, mock_upstream: MockControl
) -> None:
    store = await redis_server()
    rpm = 20
    config = proxy_config(
        [provider_config("mock", "openai", mock_upstream.base_url)], rate_limit=RateLimit(requests_per_minute=rpm)
    ).model_copy(update={"fleet": Fleet(replicas=2)})
    # A generous timeout: this test is about a stopped server, not a slow one (a loaded test box can be slow).
    fleet = [await proxy_process(config, "--state-store", store.url, "--state-store-timeout", "1") for _ in range(2)]
    async with aiohttp.ClientSession() as session:
        assert await post(session, fleet[0]) == 200
        assert await store_up(session, fleet[0]) == 1

        await store.stop()
        # Under load while the store is gone: served from this replica's 1/2 share, nothing fails.
        during = await asyncio.gather(*(post(session, fleet[0]) for _ in range(rpm)))
        assert set(during) <= {200, 429}
        assert during.count(200) >= rpm // 2
        assert during.count(200) <= rpm // 2 + 1  # the share, plus what refilled meanwhile
        assert await store_up(session, fleet[0]) == 0

        await store.start()  # same port, empty: a fresh minute
        await wait_store_up(session, fleet[0], 1)
        await wait_store_up(session, fleet[1], 1)
        shared = await asyncio.gather(*(post(session, fleet[i % 2]) for i in range(2 * rpm)))
        assert rpm <= shared.count(200) <= rpm + 2


async def test_a_hung_store_costs_one_timeout_then_requests_go_local(
    proxy_process, redis_server: RedisFactory, mock_upstream: MockControl
) -> None:
    store = await redis_server()
    config = proxy_config(
        [provider_config("mock", "openai", mock_upstream.base_url)], rate_limit=RateLimit(requests_per_minute=1000)
    )
    proxy = await proxy_process(config, "--state-store", store.url, "--state-store-timeout", "0.05")
    async with aiohttp.ClientSession() as session:
        assert await post(session, proxy) == 200
        store.pause()
        try:
            answers = await asyncio.gather(*(post(session, proxy) for _ in range(20)))
            assert answers == [200] * 20
            assert await store_up(session, proxy) == 0
        finally:
            store.resume()
        await wait_store_up(session, proxy, 1)
        assert await post(session, proxy) == 200


async def test_a_redis_cluster_node_is_refused_once_and_limits_stay_local(redis_server: RedisFactory) -> None:
    node = await redis_server("--cluster-enabled", "yes")
    store = FleetStore(StoreSettings(node.url, timeout_s=1.0), metrics=CollectorRegistry())
    try:
        await store.connect()
        assert not store.up and "Redis Cluster is not supported" in store.reason
        assert await store.reserve(Slots(limit_buckets("profile", "p", 5, None, 1), ())) is None
        assert store.outages == 1  # said once; no probe keeps finding it "back"
    finally:
        await store.close()


async def test_a_hung_store_is_reported_as_a_timeout_with_words(redis_server: RedisFactory) -> None:
    store = await redis_server()
    fleet = FleetStore(StoreSettings(store.url, timeout_s=0.05), metrics=CollectorRegistry())
    try:
        await fleet.connect()
        assert fleet.up
        store.pause()
        try:
            assert await fleet.reserve(Slots(limit_buckets("profile", "p", 5, None, 1), ())) is None
        finally:
            store.resume()
        assert not fleet.up
        assert "unavailable (TimeoutError: no answer in time): enforcing limits 1/N locally" in fleet.reason
    finally:
        await fleet.close()


async def test_a_worker_s_store_counts_round_trips_and_outages_in_its_files(
    redis_server: RedisFactory, tmp_path: Path
) -> None:
    """Under ``--workers`` the store's latency and outage count are kept in the worker's own files (the
    app's value source): every worker's ``/metrics`` aggregate has them."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    store = await redis_server()
    fleet = FleetStore(
        StoreSettings(store.url, timeout_s=0.05), metrics=CollectorRegistry(), values_from=WorkerFiles(directory)
    )
    try:
        await fleet.connect()
        for _ in range(3):
            assert await fleet.reserve(Slots(limit_buckets("profile", "p", 50, None, 1), ())) is not None
        store.pause()
        try:
            assert await fleet.reserve(Slots(limit_buckets("profile", "p", 50, None, 1), ())) is None
        finally:
            store.resume()
    finally:
        await fleet.close()
    aggregate = CollectorRegistry()
    MultiProcessCollector(aggregate, path=str(directory))  # type: ignore[no-untyped-call]
    text = generate_latest(aggregate).decode()
    assert "switchboard_state_store_seconds_count 3.0" in text
    assert "switchboard_state_store_fail_open_total 1.0" in text
