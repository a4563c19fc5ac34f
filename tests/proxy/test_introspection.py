"""Routing endpoints (explain, latency, estimate-cost) and the metrics they feed."""

from typing import Any

import aiohttp

from switchboard.api.profile import ProviderRef
from switchboard.api.provider import Pricing, ProviderModel
from tests.fixtures.proxy import ProxyFactory, ProxyServer, SdkClient, provider_config, proxy_config
from tests.fixtures.upstream import MockFactory

MESSAGES = [{"role": "user", "content": "count these four words"}]


async def _call(proxy: ProxyServer, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.request(method, proxy.base_url + path, **kwargs) as r:
        return r.status, await (r.json() if r.content_type == "application/json" else r.text())


async def _proxy(mock_upstream_factory: MockFactory, proxy_server: ProxyFactory) -> ProxyServer:
    mock = await mock_upstream_factory()
    priced = ProviderModel(name="mock-model", pricing=Pricing(input_per_million=1000, output_per_million=2000))
    cheap = provider_config("cheap", "openai", mock.base_url).model_copy(update={"models": (priced,)})
    return await proxy_server(proxy_config([cheap, provider_config("other", "openai", mock.base_url)]))


async def test_explain_latency_and_cost(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    proxy = await _proxy(mock_upstream_factory, proxy_server)
    status, explained = await _call(proxy, "POST", "/v1/routing/explain", json={"model": "mock-model"})
    assert status == 200
    assert explained["profile"] == "default" and explained["strategy"] == "failover"
    assert len(explained["ranked"]) == 2
    raw = await sdk_client(proxy).chat.completions.with_raw_response.create(model="mock-model", messages=MESSAGES)  # type: ignore[arg-type]
    # 4 prompt and 4 completion tokens (the mock counts words) at 1000/2000 USD per million tokens.
    assert float(raw.headers["x-switchboard-cost-usd"]) == (4 * 1000 + 4 * 2000) / 1e6
    status, latency = await _call(proxy, "GET", "/v1/routing/latency")
    assert status == 200 and latency["object"] == "list"
    assert any(row["provider"] == "cheap" and row["count"] >= 1 for row in latency["data"])
    body = {"model": "mock-model", "messages": MESSAGES, "max_tokens": 100}
    status, costs = await _call(proxy, "POST", "/v1/routing/estimate-cost", json=body)
    assert status == 200
    assert costs["data"][0]["provider"] == "cheap"
    assert costs["data"][0]["cost_usd"] > 0
    # The engine's estimator: ceil(22 characters / 4) + 4 tokens of message framing.
    assert costs["data"][0]["prompt_tokens"] == 6 + 4
    embeddings = {"model": "mock-model", "input": ["x" * 40, [1, 2, 3]]}
    status, costs = await _call(proxy, "POST", "/v1/routing/estimate-cost", json=embeddings)
    assert status == 200 and costs["data"][0]["prompt_tokens"] == 10 + 3


async def test_introspection_errors(mock_upstream_factory: MockFactory, proxy_server: ProxyFactory) -> None:
    proxy = await _proxy(mock_upstream_factory, proxy_server)
    status, body = await _call(proxy, "POST", "/v1/routing/explain", json={"model": "nope"})
    assert status == 404 and body["error"]["param"] == "model"
    assert body["error"]["code"] == "model_not_found"
    status, body = await _call(proxy, "POST", "/v1/routing/estimate-cost", json={"messages": []})
    assert status == 400 and body["error"]["param"] == "model"


async def test_introspection_answers_routing_failures_with_chats_codes(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory
) -> None:
    mock = await mock_upstream_factory()
    config = proxy_config([provider_config("p", "openai", mock.base_url)], allow_client_routing=True)
    proxy = await proxy_server(config)
    bad_header = {"x-routing-preference": "fastest"}
    for path in ("/v1/chat/completions", "/v1/routing/explain"):
        status, body = await _call(
            proxy, "POST", path, json={"model": "mock-model", "messages": MESSAGES}, headers=bad_header
        )
        assert (status, body["error"]["code"]) == (400, "invalid_routing_header"), path
    for path in ("/v1/chat/completions", "/v1/routing/explain", "/v1/routing/estimate-cost"):
        status, body = await _call(proxy, "POST", path, json={"model": "nope", "messages": MESSAGES})
        assert (status, body["error"]["code"], body["error"]["param"]) == (404, "model_not_found", "model"), path


async def test_metrics_cover_requests_tokens_cost_and_circuits(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    proxy = await _proxy(mock_upstream_factory, proxy_server)
    client = sdk_client(proxy)
    await client.chat.completions.create(model="mock-model", messages=MESSAGES)  # type: ignore[arg-type]
    stream = await client.chat.completions.create(model="mock-model", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
    async for _ in stream:
        pass
    status, text = await _call(proxy, "GET", "/metrics")
    assert status == 200
    for line in (
        'switchboard_requests_total{api="chat",endpoint="chat/completions",profile="default",provider="cheap",'
        'status="200"} 2.0',
        'switchboard_tokens_total{api="chat",kind="completion",profile="default",provider="cheap"} 8.0',
        'switchboard_routing_decisions_total{profile="default",provider="cheap",strategy="failover"} 2.0',
        'switchboard_circuit_state{provider="cheap",state="closed"} 1.0',
        "switchboard_config_loaded 1.0",
    ):
        assert line in text, line
    assert 'switchboard_cost_usd_total{api="chat",profile="default",provider="cheap"} 0.024' in text
    assert "switchboard_time_to_first_byte_seconds_count" in text
    assert "switchboard_request_duration_seconds_bucket" in text


async def test_explains_failover_score_is_the_position_in_failover_order(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory
) -> None:
    """docs/routing.md: for failover, ``score`` is the failover position (priority, then list order; 0 first)."""
    mock = await mock_upstream_factory()
    providers = [provider_config(name, "openai", mock.base_url) for name in ("late", "second", "first", "off")]
    providers[3] = providers[3].model_copy(update={"disabled": True})
    config = proxy_config(providers)
    refs = (ProviderRef(name="late", priority=2), ProviderRef(name="second", priority=1))
    refs += (ProviderRef(name="first"), ProviderRef(name="off"))
    config = config.model_copy(update={"profiles": (config.profiles[0].model_copy(update={"providers": refs}),)})
    proxy = await proxy_server(config)
    status, explained = await _call(proxy, "POST", "/v1/routing/explain", json={"model": "mock-model"})
    assert status == 200
    ranked = [(c["provider"], c["score"]) for c in explained["ranked"]]
    assert ranked == [("first", 0.0), ("second", 1.0), ("late", 2.0)]  # list indexes would be 2, 1, 0
    assert explained["excluded"] == {"off": "disabled"}
