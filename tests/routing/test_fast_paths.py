"""The hot path's shortcuts agree exactly with the plain definitions they replace."""

import random
from fnmatch import fnmatchcase
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from switchboard.api.config import parse_config
from switchboard.api.profile import RuleMatch
from switchboard.proxy.http.routing_input import RoutingHeaders
from switchboard.proxy.routing import NoRoute, Outcome, Router, RouteRequest
from switchboard.proxy.routing.index import Candidate
from switchboard.proxy.routing.rules import CompiledMatch
from switchboard.proxy.routing.state import ProviderState
from switchboard.proxy.routing.strategies import weighted_shuffle
from switchboard.proxy.routing.windows import SlidingWindow
from tests.fixtures.engine import FakeClock, make_config, provider

operation = st.one_of(
    st.tuples(st.just("start")),
    st.tuples(st.just("finish"), st.integers(0, 3000)),
    st.tuples(st.just("cool"), st.floats(0.1, 5)),
    st.tuples(st.just("wait"), st.floats(0, 3)),
    st.tuples(st.just("check"), st.integers(0, 3000)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(operation, max_size=40))
def test_memoised_admits_equals_blocked_reason(ops: list[tuple[Any, ...]]) -> None:
    config = parse_config(
        {"providers": [provider("a", limits={"requestsPerMinute": 3, "tokensPerMinute": 4000, "maxConcurrency": 2})]}
    )
    state = ProviderState(config.providers[0], replicas=1, now=0.0)
    now = 0.0
    for op, *args in ops:
        if op == "start":
            state.start(now)
        elif op == "finish":
            state.finish(now, args[0], False)
        elif op == "cool":
            state.cool_down(now + args[0])
        elif op == "wait":
            now += args[0]
        assert state.admits(now, args[0] if op == "check" else 1) == (
            state.blocked_reason(now, args[0] if op == "check" else 1) is None
        )


def pair_sorted_shuffle(weights: list[int], rng: random.Random) -> list[int]:
    """The textbook Efraimidis-Spirakis order the fast version must reproduce draw for draw."""
    keyed = [(rng.random() ** (1.0 / w), i) for i, w in enumerate(weights) if w > 0]
    keyed.sort(reverse=True)
    return [i for _, i in keyed] + [i for i, w in enumerate(weights) if w <= 0]


class CoarseRandom(random.Random):
    """Draws from {0, 1/4, 1/2, 3/4} only, so equal weights often tie and tie order is tested."""

    def random(self) -> float:
        return int(super().random() * 4) / 4


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([0, 1, 2, 7, 1000]), max_size=30), st.integers(0, 2**32), st.booleans())
def test_weighted_shuffle_matches_pair_sort(weights: list[int], seed: int, coarse: bool) -> None:
    make = CoarseRandom if coarse else random.Random
    items: list[Any] = list(range(len(weights)))
    fast: list[Any] = weighted_shuffle(items, weights, make(seed))
    assert fast == pair_sorted_shuffle(weights, make(seed))


@given(
    st.lists(st.sampled_from(["gpt-4*", "o1", "claude-?-*", "[gc]*mini", "*", "gpt-4o"]), min_size=1, max_size=3),
    st.sampled_from(["gpt-4o", "gpt-4o-mini", "o1", "o1-preview", "claude-3-haiku", "GPT-4o", "c-mini"]),
)
def test_compiled_model_globs_match_like_fnmatchcase(patterns: list[str], model: str) -> None:
    compiled = CompiledMatch.of(RuleMatch(models=tuple(patterns)))
    expected = any(fnmatchcase(model, p) for p in patterns)
    assert compiled.matches(RouteRequest(model=model)) == expected


provider_spec = st.fixed_dictionaries(
    {
        "rpm": st.none() | st.integers(1, 3),
        "window": st.none() | st.sampled_from([500, 5000]),
        "outcomes": st.lists(st.sampled_from(["success", "server_error", "rate_limited"]), max_size=4),
    }
)


@settings(max_examples=100, deadline=None)
@given(st.lists(provider_spec, min_size=1, max_size=6), st.sampled_from([10, 1000, 4000]), st.floats(0, 20))
def test_filter_shortcut_equals_full_scan(specs: list[dict[str, Any]], tokens: int, later: float) -> None:
    upstreams = [
        provider(
            f"p{i}",
            limits={"requestsPerMinute": s["rpm"]} if s["rpm"] else {},
            circuitBreaker={"consecutiveFailures": 2, "openSeconds": 5},
        )
        for i, s in enumerate(specs)
    ]
    for up, s in zip(upstreams, specs, strict=True):
        if s["window"]:
            up["models"][0]["contextWindow"] = s["window"]
    profile = {"name": "p", "models": ["gpt-4o"], "providers": [{"name": u["name"]} for u in upstreams]}
    clock = [0.0]
    router = Router(parse_config({"providers": upstreams, "profiles": [profile]}), clock=lambda: clock[0])
    engine = router._engine
    route = engine.index.default_routes["gpt-4o"]
    for candidate, s in zip(route.candidates, specs, strict=True):
        for kind in s["outcomes"]:
            router.started(candidate.attempt)
            router.finished(candidate.attempt, Outcome(kind, 0.1, retry_after_s=2.0))
    live = engine.live
    assert live.tripped == {k for k, b in live.breakers.items() if b.tripped}
    assert live.guarded == {k for k, p in live.providers.items() if p.guarded}
    router.update_config(router.config)  # a reload keeps learned state and recomputes the fast flags
    assert live.tripped == {k for k, b in live.breakers.items() if b.tripped}
    engine, route = router._engine, router._engine.index.default_routes["gpt-4o"]
    request = RouteRequest(model="gpt-4o", prompt_tokens=tokens)
    for now in (0.0, later):
        eligible, excluded = engine._filter(route, request, now, ())
        full: tuple[list[Candidate], dict[str, str]] = engine._filter_each(route, tokens, now, ())
        assert (list(eligible), excluded) == full


PRIVATE = ("authorization", "cookie", "api-key", "x-api-key", "proxy-authorization")
header_name = st.sampled_from(
    ["X-Routing-Profile", "x-routing-profile", "X-Session-Id", "Authorization", "x-api-key", "Cookie", "Host", "9"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(header_name, st.text(max_size=3)), max_size=8), header_name)
def test_routing_headers_view_equals_the_lowered_copy(pairs: list[tuple[str, str]], probe: str) -> None:
    """The view the engine reads: the client's headers by lower-case name, last value wins, credentials hidden."""
    copy = {name: v for k, v in pairs if (name := k.lower()) not in PRIVATE}
    for headers in (CIMultiDictProxy(CIMultiDict(pairs)), dict(pairs)):
        view = RoutingHeaders(headers)
        if isinstance(headers, dict):
            copy = {name: v for k, v in headers.items() if (name := k.lower()) not in PRIVATE}
        assert dict(view) == copy and len(view) == len(copy) and list(view) == list(copy)
        for name in (probe, probe.lower()):
            assert (name in view) == (name in copy)
            assert view.get(name) == copy.get(name)
            assert view.get(name, "-") == copy.get(name, "-")


step = st.one_of(
    st.tuples(
        st.just("outcome"),
        st.integers(0, 2),
        st.sampled_from(["success", "server_error", "rate_limited", "client_error"]),
        st.sampled_from([None, 0.01, 0.9]),
    ),
    st.tuples(st.just("advance"), st.floats(0, 40)),
    st.tuples(st.just("plan"), st.sampled_from([10, 5000])),
)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["failover", "weighted", "round-robin", "least-latency"]),
    st.integers(1, 3),
    st.booleans(),
    st.booleans(),
    st.lists(step, max_size=30),
)
@example("failover", 2, False, False, [("outcome", 0, "success", 0.01), ("plan", 10)])  # strained
@example("failover", 2, False, True, [("plan", 10)] * 4)  # the profile's own limit
@example("failover", 3, True, False, [("plan", 10)] * 3)  # a provider's limit
@example("failover", 2, False, False, [("outcome", 0, "server_error", None)] * 2 + [("plan", 10)])  # tripped
@example(  # slow start after a circuit closes
    "failover",
    2,
    False,
    False,
    [("outcome", 0, "server_error", None)] * 2
    + [("advance", 6.0), ("outcome", 0, "success", None)]
    + [("plan", 10)] * 8,
)
@example("weighted", 2, False, False, [("plan", 10)] * 3)  # a strategy with a choice to make
@example("round-robin", 1, False, False, [("plan", 10)] * 2)
@example("failover", 2, False, False, [("plan", 5000)])  # a context window
def test_fixed_plans_equal_full_decisions(
    strategy: str, n: int, provider_limits: bool, profile_limits: bool, steps: list[tuple[Any, ...]]
) -> None:
    """A route's fixed plan is handed out exactly when the full decision would build that same plan.

    Twin routers see the same outcomes and clock: one plans with ``Router.plan``, the other always decides in full.
    """
    upstreams = [
        provider(
            f"p{i}",
            limits={"requestsPerMinute": 2} if provider_limits and i == 0 else {},
            circuitBreaker={"consecutiveFailures": 2, "openSeconds": 5, "slowStartSeconds": 10},
            models=[{"name": "gpt-4o", "contextWindow": 1000 if i == 1 else 100000}],
        )
        for i in range(n)
    ]
    profile = {"rateLimit": {"requestsPerMinute": 3}} if profile_limits else {}
    clock = FakeClock()
    fast, full = (
        Router(make_config(upstreams, profile, strategy=strategy), clock=clock, rng=random.Random(3)) for _ in "ab"
    )
    for op, *args in steps:
        if op == "advance":
            clock.advance(args[0])
        elif op == "outcome":
            for router in (fast, full):
                attempt = router._engine.index.default_routes["gpt-4o"].candidates[args[0] % n].attempt
                router.started(attempt)
                router.finished(attempt, Outcome(args[1], 0.1, retry_after_s=3.0, headroom=args[2]))
        else:
            request = RouteRequest(model="gpt-4o", prompt_tokens=args[0])
            plans: list[Any] = []
            for plan in (fast.plan, lambda r: full._engine.decide(r, clock.now, full._rng, commit=True).plan()):
                try:
                    plans.append(plan(request))
                except NoRoute as e:
                    plans.append(e.status)
            assert plans[0] == plans[1]
            assert [p.turn for p in fast._live.profiles.values()] == [p.turn for p in full._live.profiles.values()]


def test_a_fixed_plan_is_handed_out_until_something_live_changes_it(clock: FakeClock) -> None:
    router = Router(make_config([provider("a"), provider("b")]), clock=clock)
    request = RouteRequest(model="gpt-4o")
    first = router.plan(request)
    assert router.plan(request) is first and [a.provider.name for a in first.attempts] == ["a", "b"]
    for _ in range(5):  # a's breaker opens: decided per request again
        router.started(first.attempts[0])
        router.finished(first.attempts[0], Outcome("server_error", 0.1))
    tripped = router.plan(request)
    assert tripped is not first and [a.provider.name for a in tripped.attempts] == ["b"]


window_event = st.one_of(
    st.tuples(st.just("add"), st.integers(0, 7), st.booleans()),  # whole seconds later, failed
    st.tuples(st.just("reset"), st.just(0), st.just(False)),
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([(60.0, 60), (60.0, 20), (6.0, 3)]), st.lists(window_event, max_size=60))
def test_sliding_window_counts_equal_the_buckets_of_every_call(
    shape: tuple[float, int], events: list[tuple[str, int, bool]]
) -> None:
    """``add`` counts in its last bucket while the time stays in its span: the counts are the plain reading's,
    every call counted in the bucket of its own time, those of the last ``buckets`` ticks summed."""
    window_s, buckets = shape
    width = window_s / buckets
    window = SlidingWindow(window_s, buckets=buckets)
    calls: list[tuple[int, bool]] = []  # (tick, failed) of every call since the last reset
    now = 1000.0
    for kind, later, failed in events:
        now += later
        if kind == "reset":
            window.reset()
            calls.clear()
            continue
        window.add(now, failed)
        calls.append((int(now / width), failed))
        recent = [f for tick, f in calls if tick > int(now / width) - buckets]
        assert window.counts(now) == (len(recent), sum(recent))
