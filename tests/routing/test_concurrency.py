"""Many asyncio tasks planning, starting and finishing interleaved keep the counts exact.

The engine is synchronous: a task's plan() and started() run without an await in
between (as in the proxy), so the race this test covers is between tasks that
plan while others are in flight and others finish. A barrier holds the first
wave in flight all at once (the peak); a second wave plans while the first
finishes in random order.
"""

import asyncio
import random

from switchboard.proxy.routing import Outcome, Router, RouteRequest
from tests.fixtures.engine import make_config, provider

WAVE = 100
SECOND_WAVE = 60  # with at most 50 of the first wave still in flight: 110 < 4 x 30, never over the limits


async def test_interleaved_tasks_keep_in_flight_counts_consistent() -> None:
    cfg = make_config([provider(f"p{i}", limits={"maxConcurrency": 30}) for i in range(4)], strategy="least-busy")
    router = Router(cfg, rng=random.Random(1))
    in_flight: dict[str, int] = {}
    peak: dict[str, int] = {}
    all_in_flight = asyncio.Barrier(WAVE)
    first_wave_done = asyncio.Event()
    finished = 0
    delays = random.Random(2)

    async def one_request(barrier: asyncio.Barrier | None) -> None:
        nonlocal finished
        attempt = router.plan(RouteRequest(model="gpt-4o")).attempts[0]
        name = attempt.provider.name
        router.started(attempt)
        in_flight[name] = in_flight.get(name, 0) + 1
        peak[name] = max(peak.get(name, 0), in_flight[name])
        if barrier is not None:
            await barrier.wait()
        await asyncio.sleep(delays.random() / 1000)
        in_flight[name] -= 1
        router.finished(attempt, Outcome("success", 0.001))
        finished += 1
        if finished == WAVE * 4 // 5:
            first_wave_done.set()

    async def second_wave() -> None:
        await first_wave_done.wait()  # at most half of the first wave is still in flight
        await asyncio.gather(*(one_request(None) for _ in range(SECOND_WAVE)))

    await asyncio.gather(*(one_request(all_in_flight) for _ in range(WAVE)), second_wave())
    assert sum(in_flight.values()) == 0
    assert max(peak.values()) <= 30
    assert sorted(peak.values())[0] >= WAVE // 4  # at the barrier all 100 were in flight, spread evenly
    health = router.provider_health()
    assert sum(h.requests_per_minute for h in health.values()) == WAVE + SECOND_WAVE
    explanation = router.explain(RouteRequest(model="gpt-4o"))
    assert all(c.score == 0.0 for c in explanation.ranked)  # nothing left in flight
