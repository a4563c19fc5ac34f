"""The Grafana dashboard: valid JSON, shipped verbatim, querying only the proxy's metrics."""

import json
import re
from typing import Any

from tests.fixtures.helm import ALL_ON_VALUES, CHART, Render, find

# The series the proxy exports (proxy/metrics.py on branch dataplane); counters get `_total`.
PROXY_SERIES = {
    "switchboard_requests_total",
    "switchboard_request_duration_seconds_bucket",
    "switchboard_time_to_first_byte_seconds_bucket",
    "switchboard_upstream_errors_total",
    "switchboard_tokens_total",
    "switchboard_cost_usd_total",
    "switchboard_retries_total",
    "switchboard_fallbacks_total",
    "switchboard_routing_decisions_total",
    "switchboard_config_reloads_total",
    "switchboard_config_loaded",
    "switchboard_circuit_state",
}


def dashboard() -> dict[str, Any]:
    result: dict[str, Any] = json.loads((CHART / "dashboards" / "switchboard.json").read_text())
    return result


def expressions(board: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in board["panels"] for t in p.get("targets", [])]


def test_queries_use_only_exported_series() -> None:
    used = {m for e in expressions(dashboard()) for m in re.findall(r"\bswitchboard_[a-z_]+", e)}
    assert used <= PROXY_SERIES, used - PROXY_SERIES


def test_covers_traffic_latency_errors_circuits_and_cost() -> None:
    board = dashboard()
    used = {m for e in expressions(board) for m in re.findall(r"\bswitchboard_[a-z_]+", e)}
    for series in (
        "switchboard_requests_total",
        "switchboard_request_duration_seconds_bucket",
        "switchboard_upstream_errors_total",
        "switchboard_circuit_state",
        "switchboard_cost_usd_total",
    ):
        assert series in used
    joined = " ".join(expressions(board))
    assert "by (provider)" in joined and "by (profile)" in joined
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    assert {v["name"] for v in board["templating"]["list"]} == {"datasource", "profile", "provider"}


def test_configmap_carries_the_file_verbatim(helm_template: Render) -> None:
    configmap = find(helm_template("-f", str(ALL_ON_VALUES)), "ConfigMap", "sb-dashboard")
    assert json.loads(configmap["data"]["switchboard.json"]) == dashboard()


def test_series_list_matches_the_proxy_registry() -> None:
    from prometheus_client import generate_latest

    from switchboard.proxy.metrics import create_metrics

    metrics = create_metrics(lambda: None)
    metrics.requests.labels("chat", "chat/completions", "p/chat", "p/openai", "200").inc()
    metrics.latency.labels("chat", "chat/completions", "p/chat", "p/openai").observe(0.1)
    metrics.first_byte.labels("chat", "chat/completions", "p/chat", "p/openai").observe(0.1)
    metrics.upstream_errors.labels("p/openai", "timeout").inc()
    metrics.tokens.labels("chat", "p/chat", "p/openai", "prompt").inc()
    metrics.cost.labels("chat", "p/chat", "p/openai").inc()
    metrics.retries.labels("p/chat", "p/openai").inc()
    metrics.fallbacks.labels("p/chat").inc()
    metrics.decisions.labels("p/chat", "failover", "p/openai").inc()
    metrics.reloads.labels("ok").inc()
    exposed = set(re.findall(r"^(switchboard_[a-z_]+)", generate_latest(metrics.registry).decode(), re.M))
    # switchboard_circuit_state is collected from the live router, so it is absent without one.
    assert PROXY_SERIES - {"switchboard_circuit_state"} <= exposed
    assert "switchboard_circuit_state" in generate_latest(metrics.registry).decode()  # its HELP/TYPE lines
