"""Decision time of ``Router.plan`` for every strategy at 3, 50 and 500 candidates.

Target: median under 20 us at 50 candidates. Run with ``make bench``
(``pytest bench --benchmark-enable``); a compact table is printed at the end.
"""

import random
from collections.abc import Callable
from typing import Any, get_args

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from switchboard.api.config import parse_config
from switchboard.api.profile import Strategy
from switchboard.proxy.routing import Outcome, Router, RouteRequest

REQUEST = RouteRequest(model="gpt-4o", prompt_tokens=1200, max_tokens=256)
STRATEGIES = list(get_args(Strategy))
RULES: dict[str, Any] = {
    "rules": [
        {"name": "long", "priority": 10, "match": {"minPromptTokens": 100000}, "strategy": "failover"},
        {"name": "streamed", "priority": 20, "match": {"stream": True}, "preference": "speed"},
        {"name": "cheap", "priority": 30, "match": {"models": ["gpt-4*"]}, "strategy": "least-cost"},
    ],
    "defaultRule": {"name": "default", "strategy": "weighted"},
}


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
    profile: dict[str, Any] = {
        "name": "p",
        "models": ["gpt-4o"],
        "strategy": strategy,
        "providers": [{"name": p["name"]} for p in providers],
        **(RULES if strategy == "rules" else {}),
    }
    router = Router(parse_config({"providers": providers, "profiles": [profile]}), rng=random.Random(0))
    rng = random.Random(1)
    for attempt in router.plan(REQUEST).attempts:  # learned state: breakers and latency for everyone
        router.started(attempt)
        router.finished(attempt, Outcome("success", rng.uniform(0.05, 0.5)))
    return router


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("n", [3, 50, 500])
def test_plan(
    benchmark: BenchmarkFixture, record_median: Callable[[str, int, float], None], strategy: str, n: int
) -> None:
    router = router_with(n, strategy)
    benchmark.group = f"{n} candidates"
    plan = benchmark(router.plan, REQUEST)
    assert len(plan.attempts) == n
    if benchmark.stats is not None:  # None under --benchmark-disable (plain test runs)
        record_median(strategy, n, benchmark.stats.stats.median)
