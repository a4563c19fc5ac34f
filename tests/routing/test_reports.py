"""Latency report, provider health, cost estimates, pricing table and token estimator."""

from collections.abc import Callable

import pytest

from switchboard.api.provider import ProviderModel
from switchboard.proxy.routing import (
    Outcome,
    PricingTable,
    Router,
    RouteRequest,
    estimate_input_tokens,
    estimate_prompt_tokens,
)
from tests.fixtures.engine import FakeClock, make_config, provider

Build = Callable[..., Router]


def test_latency_report_percentiles(make_router: Build) -> None:
    router = make_router(make_config([provider("a")]))
    attempt = router.plan(RouteRequest(model="gpt-4o")).attempts[0]
    for ms in range(1, 101):
        router.started(attempt)
        router.finished(attempt, Outcome("success", ms / 1000))
    (row,) = router.latency_report()
    assert (row.provider, row.model, row.count) == ("a", "gpt-4o", 100)
    assert (row.p50_ms, row.p95_ms, row.p99_ms, row.min_ms, row.max_ms) == (50.0, 95.0, 99.0, 1.0, 100.0)


def test_provider_health_snapshot(make_router: Build, clock: FakeClock) -> None:
    router = make_router(make_config([provider("a")]))
    attempt = router.plan(RouteRequest(model="gpt-4o")).attempts[0]
    for outcome in (Outcome("success", 0.1), Outcome("server_error", 0.2, status=502), Outcome("success", 0.3)):
        router.started(attempt)
        router.finished(attempt, outcome)
    health = router.provider_health()["a"]
    assert health.circuit == "closed"
    assert health.error_rate == pytest.approx(1 / 3)
    assert health.requests_per_minute == 3
    assert health.last_error == "server error (HTTP 502)"
    assert health.p50_ms == 100.0
    clock.advance(120)
    assert router.provider_health()["a"].requests_per_minute == 0


def test_provider_latency_spans_its_models(make_router: Build) -> None:
    """A provider's health latency is its models' together (each call is learned once, per model)."""
    router = make_router(make_config([provider("a", "gpt-4o", "gpt-4o-mini")], models=["gpt-4o", "gpt-4o-mini"]))
    for model, seconds in (("gpt-4o", 0.1), ("gpt-4o", 0.1), ("gpt-4o", 0.1), ("gpt-4o-mini", 0.5)):
        attempt = router.plan(RouteRequest(model=model)).attempts[0]
        router.started(attempt)
        router.finished(attempt, Outcome("success", seconds))
    health = router.provider_health()["a"]
    assert health.ema_ms == pytest.approx(200.0)  # 100 ms over three samples, 500 ms over one
    assert (health.p50_ms, health.p95_ms) == (100.0, 500.0)
    rows = {row.model: row.ema_ms for row in router.latency_report()}
    assert rows == {"gpt-4o": 100.0, "gpt-4o-mini": 500.0}


def test_estimate_cost_per_candidate(make_router: Build) -> None:
    ups = [provider("a", "gpt-4o"), provider("b", "gpt-4o", "claude-3-5-haiku-20241022"), provider("c", "mystery")]
    cfg = make_config(
        ups,
        providers=[
            {"name": "a"},
            {"name": "b", "model": "claude-3-5-haiku-20241022"},
            {"name": "c", "model": "mystery"},
        ],
    )
    estimates = make_router(cfg).estimate_cost(RouteRequest(model="gpt-4o", prompt_tokens=1_000_000, max_tokens=1000))
    costs = {e.provider: e.cost_usd for e in estimates}
    assert costs["a"] == pytest.approx(2.50 + 0.01)
    assert costs["b"] == pytest.approx(0.80 + 0.004)  # dated snapshot found by prefix
    assert costs["c"] is None


def test_default_pricing_table_and_provider_override() -> None:
    table = PricingTable.default()
    assert table.lookup("gpt-4o-mini-2024-07-18") == table.lookup("gpt-4o-mini")
    assert table.lookup("gpt-4o-mini") != table.lookup("gpt-4o")
    assert table.lookup("gemini-2.5-pro") is not None and table.lookup("nope") is None
    own = ProviderModel.model_validate({"name": "gpt-4o", "pricing": {"inputPerMillion": 9, "outputPerMillion": 9}})
    price = table.price_of(own)
    assert price is not None and price.input_per_million == 9


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "expected a 'models' mapping"),
        ({"models": {"x": {"input": 1}}}, "needs input and output"),
        ({"models": {"x": {"input": -1, "output": 1}}}, "non-negative numbers"),
    ],
)
def test_bad_pricing_table_is_refused(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PricingTable.from_mapping(data)


def test_token_estimate_counts_content_and_tools() -> None:
    messages = [
        {"role": "user", "content": "x" * 400},
        {"role": "user", "content": [{"type": "text", "text": "y" * 40}]},
    ]
    assert estimate_prompt_tokens(messages) == 110 + 8
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    assert estimate_prompt_tokens(messages, tools) > 118
    image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:" + "A" * 10000}}]}]
    assert estimate_prompt_tokens(image) == 4


def test_embeddings_input_estimate_counts_texts_and_takes_token_ids_as_they_are() -> None:
    assert estimate_input_tokens("x" * 400) == 100
    assert estimate_input_tokens(["x" * 40, "y" * 41]) == 10 + 11
    assert estimate_input_tokens([1, 2, 3]) == 3
    assert estimate_input_tokens([[1, 2], [3, 4, 5]]) == 5
    assert estimate_input_tokens(None) == 0 and estimate_input_tokens({"a": "b"}) == 0
