"""The Grafana dashboard: valid JSON, shipped verbatim, and proven against what the proxy exports.

Every PromQL expression (panels and template variables) is parsed with
``promql-parser`` and checked against the proxy's ``/metrics`` after real
traffic: success, streaming, failover, fallback, upstream errors, a 5xx and
a profile with a dollar budget (so the budget series exist).
"""

import json
from typing import Any

import aiohttp
import openai
import promql_parser as promql
import pytest

from switchboard.api.config import ProxyConfig
from switchboard.api.profile import Budget, ProfileConfig, ProviderRef, RetryPolicy
from switchboard.api.provider import Pricing, ProviderModel
from tests.fixtures.helm import ALL_ON_VALUES, CHART, Render, find
from tests.fixtures.proxy import ProxyFactory, SdkClient, provider_config
from tests.fixtures.upstream import MockFactory
from tests.helm.dashboard_queries import Query, parse, queries, scrape, unmet

MESSAGES = [{"role": "user", "content": "dashboard traffic"}]


def dashboard() -> dict[str, Any]:
    result: dict[str, Any] = json.loads((CHART / "dashboards" / "switchboard.json").read_text())
    return result


def _traffic_config(good_url: str, bad_url: str) -> ProxyConfig:
    retry = RetryPolicy(backoff_base_ms=1, backoff_max_ms=5)
    priced = ProviderModel(name="mock-model", pricing=Pricing(input_per_million=1.0, output_per_million=2.0))
    budgeted = ProviderModel(name="budget-model", pricing=Pricing(input_per_million=3.0, output_per_million=6.0))
    good = provider_config("good", "openai", good_url).model_copy(update={"models": (priced, budgeted)})
    bad = provider_config("bad", "openai", bad_url, models=("mock-model", "other-model", "flaky-model"))
    return ProxyConfig(
        providers=(good, bad),
        profiles=(
            ProfileConfig(
                name="chat",
                models=("mock-model", "other-model"),
                fallback_models=("mock-model",),
                providers=(ProviderRef(name="bad"), ProviderRef(name="good")),
                retry=retry,
            ),
            ProfileConfig(name="flaky", models=("flaky-model",), providers=(ProviderRef(name="bad"),), retry=retry),
            ProfileConfig(
                name="budgeted",
                models=("budget-model",),
                providers=(ProviderRef(name="good"),),
                budget=Budget(period="day", limit_usd=5.0),
            ),
        ),
    )


@pytest.fixture
async def exported_after_traffic(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> dict[str, list[dict[str, str]]]:
    good, bad = await mock_upstream_factory(), await mock_upstream_factory()
    await bad.set_faults("*", status=503)
    proxy = await proxy_server(_traffic_config(good.base_url, bad.base_url))
    client = sdk_client(proxy)
    await client.chat.completions.create(model="mock-model", messages=MESSAGES)  # type: ignore[arg-type]  # failover
    await client.chat.completions.create(model="other-model", messages=MESSAGES)  # type: ignore[arg-type]  # fallback
    stream = await client.chat.completions.create(model="mock-model", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
    async for _ in stream:
        pass
    with pytest.raises(openai.APIStatusError) as failed:
        await client.chat.completions.create(model="flaky-model", messages=MESSAGES)  # type: ignore[arg-type]
    assert failed.value.status_code >= 500
    for _ in range(2):  # the second admission reads the spend the first one recorded
        await client.chat.completions.create(model="budget-model", messages=MESSAGES)  # type: ignore[arg-type]
    async with aiohttp.ClientSession() as session, session.get(proxy.base_url + "/metrics") as response:
        return scrape(await response.text())


def test_every_query_is_met_by_the_proxy_after_real_traffic(exported_after_traffic: dict[str, Any]) -> None:
    board = dashboard()
    found = list(queries(board))
    assert len(found) >= 23  # every panel target and both template variables
    problems = {q.where: unmet(q, exported_after_traffic) for q in found}
    assert not {where: p for where, p in problems.items() if p}


def test_budgets_are_exported_per_budget_with_their_limit(exported_after_traffic: dict[str, Any]) -> None:
    assert exported_after_traffic["switchboard_budget_spent_usd"] == [{"budget": "profile:budgeted"}]
    assert exported_after_traffic["switchboard_budget_limit_usd"] == [{"budget": "profile:budgeted"}]


def test_the_check_catches_what_is_not_exported(exported_after_traffic: dict[str, Any]) -> None:
    """The checker itself: each kind of mistake a dashboard edit could make is reported."""
    cases = {
        "sum(rate(switchboard_request_total[5m]))": "is not exported",
        'sum(rate(switchboard_requests_total{model="x"}[5m]))': "has no label 'model'",
        "sum by (model) (rate(switchboard_requests_total[5m]))": "groups by 'model'",
        'sum(switchboard_circuit_state{state="broken"})': "state='broken'",
        'sum(rate(switchboard_requests_total{status=~"6.."}[$__rate_interval]))': "status=~'6..'",
        "switchboard_cost_usd_total / on (kind) switchboard_tokens_total": "groups by 'kind'",
    }
    for expr, expected in cases.items():
        problems = unmet(Query("test", expr), exported_after_traffic)
        assert any(expected in p for p in problems), (expr, problems)
    assert unmet(Query("var", "switchboard_requests_total", "model"), exported_after_traffic)
    assert not unmet(Query("ok", 'sum by (provider) (switchboard_circuit_state{state="open"})'), exported_after_traffic)


def test_covers_traffic_latency_errors_circuits_cost_and_budgets() -> None:
    board = dashboard()
    exprs = [q.expr for q in queries(board)]
    used: set[str] = set()
    for expr in exprs:
        promql.walk(parse(expr), lambda n: used.add(n.name) if isinstance(n, promql.VectorSelector) else None)
    for series in (
        "switchboard_requests_total",
        "switchboard_request_duration_seconds_bucket",
        "switchboard_upstream_errors_total",
        "switchboard_circuit_state",
        "switchboard_cost_usd_total",
        "switchboard_budget_spent_usd",
        "switchboard_budget_limit_usd",
    ):
        assert series in used
    joined = " ".join(exprs)
    assert "by (provider)" in joined and "by (profile)" in joined and "by (budget)" in joined
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    assert {v["name"] for v in board["templating"]["list"]} == {"datasource", "profile", "provider"}


def test_configmap_carries_the_file_verbatim(helm_template: Render) -> None:
    configmap = find(helm_template("-f", str(ALL_ON_VALUES)), "ConfigMap", "sb-dashboard")
    assert json.loads(configmap["data"]["switchboard.json"]) == dashboard()
