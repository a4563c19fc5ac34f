"""A request's lease on the serving snapshot: a reload retires it, its last holder closes its pools."""

import asyncio

import pytest

from switchboard.proxy.runtime import NotReady
from tests.fixtures.proxy import bare_runtime, provider_config, proxy_config


async def test_a_retired_snapshot_s_pools_close_when_its_last_holder_leaves() -> None:
    runtime = bare_runtime()
    with pytest.raises(NotReady):
        runtime.lease()
    first = await runtime.apply(proxy_config([provider_config("old", "openai", "http://127.0.0.1:9")]))
    old_pools = list(first.sessions.values())
    try:
        with runtime.lease() as held:
            with runtime.lease() as again:
                assert held is again is first
                second = await runtime.apply(proxy_config([provider_config("new", "openai", "http://127.0.0.1:10")]))
                with runtime.lease() as fresh:
                    assert fresh is second  # new requests get the new snapshot at once
            await asyncio.sleep(0)
            assert not any(pool.closed for pool in old_pools)  # one request still holds the old snapshot
        for _ in range(50):
            if all(pool.closed for pool in old_pools):
                break
            await asyncio.sleep(0.01)
        assert all(pool.closed for pool in old_pools)
        assert not any(pool.closed for pool in second.sessions.values())
        with runtime.lease() as current:  # leaving a current snapshot closes nothing
            assert current is second
        assert not any(pool.closed for pool in second.sessions.values())
    finally:
        await runtime.close()
    with pytest.raises(NotReady):
        runtime.lease()
