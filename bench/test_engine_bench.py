"""Decision time of ``Router.plan`` for 3, 50 and 500 candidates (target: median < 20 us at 50).

Run with ``make bench`` (``pytest bench --benchmark-enable``).
"""

import random
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from switchboard.api.config import parse_config
from switchboard.proxy.routing import Outcome, Router, RouteRequest

REQUEST = RouteRequest(model="gpt-4o", prompt_tokens=1200, max_tokens=256)


def router_with(n: int, strategy: str) -> Router:
    providers: list[dict[str, Any]] = [
        {
            "name": f"p{i}",
            "type": "openai",
            "models": [{"name": "gpt-4o", "contextWindow": 128000}],
            "weight": 1 + i % 5,
            "ratings": {"speed": 1 + i % 10, "cost": 1 + (i * 3) % 10, "quality": 1 + (i * 7) % 10},
            "limits": {"requestsPerMinute": 10**9} if i % 2 else {},
        }
        for i in range(n)
    ]
    profile = {
        "name": "p",
        "models": ["gpt-4o"],
        "strategy": strategy,
        "providers": [{"name": p["name"]} for p in providers],
    }
    router = Router(parse_config({"providers": providers, "profiles": [profile]}), rng=random.Random(0))
    rng = random.Random(1)
    for attempt in router.plan(REQUEST).attempts:  # learned state: breakers and latency for everyone
        router.started(attempt)
        router.finished(attempt, Outcome("success", rng.uniform(0.05, 0.5)))
    return router


@pytest.mark.parametrize("n", [3, 50, 500])
def test_plan_failover(benchmark: BenchmarkFixture, n: int) -> None:
    router = router_with(n, "failover")
    plan = benchmark(router.plan, REQUEST)
    assert len(plan.attempts) == n


@pytest.mark.parametrize("strategy", ["weighted", "least-latency", "least-cost", "preference"])
@pytest.mark.parametrize("n", [3, 50, 500])
def test_plan_strategies(benchmark: BenchmarkFixture, strategy: str, n: int) -> None:
    router = router_with(n, strategy)
    plan = benchmark(router.plan, REQUEST)
    assert len(plan.attempts) == n
