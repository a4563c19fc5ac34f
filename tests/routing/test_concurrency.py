"""Many asyncio tasks planning, starting and finishing at once keep the counts exact."""

import asyncio
import random

from switchboard.proxy.routing import Outcome, Router, RouteRequest
from tests.fixtures.engine import make_config, provider


async def test_concurrent_tasks_keep_in_flight_counts_consistent() -> None:
    cfg = make_config([provider(f"p{i}", limits={"maxConcurrency": 30}) for i in range(4)], strategy="least-busy")
    router = Router(cfg, rng=random.Random(1))
    peak: dict[str, int] = {}
    in_flight: dict[str, int] = {}
    delays = random.Random(2)

    async def one_request() -> None:
        plan = router.plan(RouteRequest(model="gpt-4o"))
        attempt = plan.attempts[0]
        name = attempt.provider.name
        router.started(attempt)
        in_flight[name] = in_flight.get(name, 0) + 1
        peak[name] = max(peak.get(name, 0), in_flight[name])
        await asyncio.sleep(delays.random() / 1000)
        in_flight[name] -= 1
        router.finished(attempt, Outcome("success", 0.001))

    await asyncio.gather(*(one_request() for _ in range(100)))
    assert sum(in_flight.values()) == 0
    assert max(peak.values()) <= 30
    assert max(peak.values()) - min(peak.values()) <= 1  # least-busy spread them evenly
    health = router.provider_health()
    assert sum(h.requests_per_minute for h in health.values()) == 100
    explanation = router.explain(RouteRequest(model="gpt-4o"))
    assert all(c.score == 0.0 for c in explanation.ranked)  # nothing left in flight
