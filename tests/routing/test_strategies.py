"""Each strategy's ordering, with distributions checked statistically (fixed seeds)."""

from collections import Counter
from collections.abc import Callable

import pytest

from switchboard.api.config import parse_config
from switchboard.proxy.routing import Outcome, Router, RouteRequest
from tests.fixtures.engine import FakeClock, make_config, provider, rated

Build = Callable[..., Router]
REQ = RouteRequest(model="gpt-4o")
CHI2_DF2_P001 = 13.82  # chi-square critical value, 2 degrees of freedom, p = 0.001
CHI2_DF1_P001 = 10.83


def chi_square(observed: Counter[str], expected: dict[str, float]) -> float:
    return sum((observed[k] - e) ** 2 / e for k, e in expected.items())


def firsts(router: Router, n: int, request: RouteRequest = REQ) -> Counter[str]:
    return Counter(router.plan(request).attempts[0].provider.name for _ in range(n))


def test_every_strategy_lists_every_eligible_provider(make_router: Build) -> None:
    for strategy in ("failover", "round-robin", "weighted", "random", "least-latency", "least-cost", "least-busy"):
        cfg = make_config([provider("a"), provider("b"), provider("c")], strategy=strategy)
        plan = make_router(cfg).plan(REQ)
        assert sorted(a.provider.name for a in plan.attempts) == ["a", "b", "c"], strategy


def test_round_robin_rotates_per_profile() -> None:
    ups = [provider("a"), provider("b"), provider("c")]
    cfg = parse_config(
        {
            "providers": ups,
            "profiles": [
                {
                    "name": "p1",
                    "models": ["gpt-4o"],
                    "strategy": "round-robin",
                    "providers": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
                },
                {
                    "name": "p2",
                    "models": ["m2"],
                    "strategy": "round-robin",
                    "providers": [{"name": "a", "model": "gpt-4o"}, {"name": "b", "model": "gpt-4o"}],
                },
            ],
        }
    )
    router = Router(cfg)
    seq1 = [router.plan(REQ).attempts[0].provider.name for _ in range(4)]
    seq2 = [router.plan(RouteRequest(model="m2")).attempts[0].provider.name for _ in range(3)]
    assert seq1 == ["a", "b", "c", "a"]
    assert seq2 == ["a", "b", "a"]  # p1's turns did not advance p2


def test_weighted_distribution_matches_weights(make_router: Build) -> None:
    cfg = make_config(
        [provider("a", weight=1), provider("b", weight=1), provider("c", weight=1)],
        strategy="weighted",
        providers=[{"name": "a", "weight": 1}, {"name": "b", "weight": 3}, {"name": "c"}],  # c keeps its own 1
    )
    counts = firsts(make_router(cfg), 5000)
    expected = {"a": 1000.0, "b": 3000.0, "c": 1000.0}
    assert chi_square(counts, expected) < CHI2_DF2_P001


def test_weighted_redistributes_weight_of_excluded_providers(make_router: Build) -> None:
    cfg = make_config(
        [provider("a", weight=2), provider("b", weight=1), provider("c", weight=5, disabled=True)],
        strategy="weighted",
    )
    counts = firsts(make_router(cfg), 3000)
    assert set(counts) == {"a", "b"}
    assert chi_square(counts, {"a": 2000.0, "b": 1000.0}) < CHI2_DF1_P001


def test_zero_weight_is_only_a_fallback(make_router: Build) -> None:
    cfg = make_config([provider("a", weight=0), provider("b", weight=1)], strategy="weighted")
    router = make_router(cfg)
    for _ in range(50):
        assert [a.provider.name for a in router.plan(REQ).attempts] == ["b", "a"]


def test_random_is_uniform(make_router: Build) -> None:
    cfg = make_config([provider("a"), provider("b"), provider("c")], strategy="random")
    counts = firsts(make_router(cfg), 3000)
    assert chi_square(counts, {"a": 1000.0, "b": 1000.0, "c": 1000.0}) < CHI2_DF2_P001


def test_least_latency_explores_unknown_then_prefers_fastest(make_router: Build) -> None:
    router = make_router(make_config([provider("a"), provider("b"), provider("c")], strategy="least-latency"))
    attempts = {a.provider.name: a for a in router.plan(REQ).attempts}
    for name, latency in (("a", 0.5), ("b", 0.1)):
        router.started(attempts[name])
        router.finished(attempts[name], Outcome("success", latency))
    assert [a.provider.name for a in router.plan(REQ).attempts] == ["c", "b", "a"]  # c unknown: explored
    router.started(attempts["c"])
    router.finished(attempts["c"], Outcome("success", 0.3))
    assert [a.provider.name for a in router.plan(REQ).attempts] == ["b", "c", "a"]


def test_least_latency_ema_uses_alpha(make_router: Build) -> None:
    router = make_router(make_config([provider("a")], latency={"emaAlpha": 0.5}))
    attempt = router.plan(REQ).attempts[0]
    for latency in (1.0, 0.0):
        router.started(attempt)
        router.finished(attempt, Outcome("success", latency))
    (row,) = router.latency_report()
    assert row.ema_ms == 500.0


def test_least_cost_uses_the_model_sent_upstream(make_router: Build) -> None:
    ups = [provider("a", "gpt-4o"), provider("b", "gpt-4o", "gpt-4o-mini")]
    plain = make_config(ups, strategy="least-cost")
    assert [a.provider.name for a in make_router(plain).plan(REQ).attempts] == ["a", "b"]  # equal: list order
    override = make_config(ups, strategy="least-cost", providers=[{"name": "a"}, {"name": "b", "model": "gpt-4o-mini"}])
    plan = make_router(override).plan(RouteRequest(model="gpt-4o", prompt_tokens=1000, max_tokens=100))
    assert [(a.provider.name, a.model.name) for a in plan.attempts] == [("b", "gpt-4o-mini"), ("a", "gpt-4o")]


def test_least_cost_weighs_max_tokens(make_router: Build) -> None:
    cheap_in = {
        "name": "a",
        "type": "openai",
        "models": [{"name": "gpt-4o", "pricing": {"inputPerMillion": 1, "outputPerMillion": 100}}],
    }
    cheap_out = {
        "name": "b",
        "type": "openai",
        "models": [{"name": "gpt-4o", "pricing": {"inputPerMillion": 10, "outputPerMillion": 1}}],
    }
    router = make_router(make_config([cheap_in, cheap_out], strategy="least-cost"))
    short = router.plan(RouteRequest(model="gpt-4o", prompt_tokens=10000, max_tokens=1))
    long = router.plan(RouteRequest(model="gpt-4o", prompt_tokens=10, max_tokens=10000))
    assert short.attempts[0].provider.name == "a"
    assert long.attempts[0].provider.name == "b"


def test_least_busy_prefers_fewest_in_flight(make_router: Build) -> None:
    router = make_router(make_config([provider("a"), provider("b")], strategy="least-busy"))
    first = router.plan(REQ).attempts[0]
    assert first.provider.name == "a"
    router.started(first)
    assert router.plan(REQ).attempts[0].provider.name == "b"
    router.finished(first, Outcome("success", 0.1))
    assert router.plan(REQ).attempts[0].provider.name == "a"


def test_each_preference_changes_the_spread_with_the_default_top_n(make_router: Build) -> None:
    """Three providers, default topN (3): every preference makes its own provider the usual first pick."""
    ups = [rated("fast", 9, 4, 5), rated("cheap", 4, 9, 5), rated("smart", 5, 5, 9)]
    spreads = {}
    for preference, favourite in {"speed": "fast", "cost": "cheap", "quality": "smart"}.items():
        counts = firsts(make_router(make_config(ups, strategy="preference", preference=preference)), 2000)
        assert counts[favourite] > 0.7 * 2000, (preference, counts)
        assert len(counts) == 3, (preference, counts)  # the others still get some first picks
        spreads[preference] = counts
    assert len({tuple(sorted(c.items())) for c in spreads.values()}) == 3


def test_preference_scores_rank_providers(make_router: Build) -> None:
    ups = [rated("fast", 10, 1, 3), rated("cheap", 1, 10, 3), rated("smart", 2, 2, 10)]
    expected = {"speed": "fast", "cost": "cheap", "quality": "smart"}
    for preference, winner in expected.items():
        cfg = make_config(ups, strategy="preference", preference=preference, topN=1)
        assert make_router(cfg).plan(REQ).attempts[0].provider.name == winner, preference


def test_preference_spreads_among_top_n_by_weight_and_score(make_router: Build) -> None:
    ups = [rated("a", 9, 9, 9, weight=1), rated("b", 9, 9, 8, weight=3), rated("c", 1, 1, 1, weight=100)]
    cfg = make_config(ups, strategy="preference", preference="balanced", topN=2)
    router = make_router(cfg)
    counts = firsts(router, 4000)
    assert "c" not in counts  # outside the top 2 despite its weight
    share_b = 3 * 0.5**0.5  # one point below the best: its weight times 0.5 ** (1 / 2)
    expected = {"a": 4000 / (1 + share_b), "b": 4000 * share_b / (1 + share_b)}
    assert chi_square(counts, expected) < CHI2_DF1_P001
    assert router.plan(REQ).attempts[-1].provider.name == "c"  # still listed for failover


def requests_to_find_the_fast_one(router: Router, clock: FakeClock, *, limit: int) -> int | None:
    """Requests until ``b`` (slow once, fast now) wins the plan on its latency, not by exploration."""
    latency = {"a": 0.5, "b": 0.1}
    for n in range(1, limit + 1):
        clock.advance(0.05)
        attempt = router.plan(REQ).attempts[0]
        router.started(attempt)
        router.finished(attempt, Outcome("success", latency[attempt.provider.name]))
        explained = router.explain(REQ)
        if explained.ranked[0].provider == "b" and (explained.ranked[0].score or 0) < 500:
            return n
    return None


@pytest.mark.parametrize("seed", range(5))
def test_least_latency_finds_a_provider_that_became_fast(make_router: Build, clock: FakeClock, seed: int) -> None:
    router = make_router(make_config([provider("a"), provider("b")], strategy="least-latency"), seed=seed)
    for name, seconds in (("a", 0.5), ("b", 2.0)):  # one early sample each: b looked slow
        attempt = next(a for a in router.plan(REQ).attempts if a.provider.name == name)
        router.started(attempt)
        router.finished(attempt, Outcome("success", seconds))
    assert requests_to_find_the_fast_one(router, clock, limit=400) is not None
    still_stuck = make_router(
        make_config([provider("a"), provider("b")], strategy="least-latency", latency={"explorationShare": 0}),
        seed=seed,
    )
    for name, seconds in (("a", 0.5), ("b", 2.0)):
        attempt = next(a for a in still_stuck.plan(REQ).attempts if a.provider.name == name)
        still_stuck.started(attempt)
        still_stuck.finished(attempt, Outcome("success", seconds))
    assert requests_to_find_the_fast_one(still_stuck, clock, limit=400) is None  # without exploration: never
