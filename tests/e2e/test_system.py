"""The whole system through its real interfaces: kubectl in, the openai SDK through every proxy replica.

One system (mocks, two operators, two proxies) serves the module; tests that
change routing use resources of their own, so they do not depend on each other.
"""

from __future__ import annotations

import json
import statistics
import time
import urllib.request
import uuid
from functools import partial
from typing import Any

import openai
import pytest

from hack.system.examples import load_examples, mock_upstreams
from tests.fixtures.operator import get_json, wait_for
from tests.fixtures.system import MESSAGES, E2ESystem, Kubectl, sdk, strategy_of, table_column

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(180)]

EXAMPLE_PROFILES = {"chat": "gpt-4o", "mini": "gpt-4o-mini", "tiered": "claude-haiku"}


def apply(cluster: Kubectl, *docs: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(docs)}))


def provider(namespace: str, name: str, base_url: str, model: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "switchboard.dev/v1alpha1",
        "kind": "LLMProvider",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": "openai-compatible", "baseUrl": base_url + "/v1", "models": [{"name": model}], **spec},
    }


def profile(namespace: str, name: str, model: str, providers: list[str], strategy: str, **spec: Any) -> dict[str, Any]:
    refs = [{"name": p, "priority": i} for i, p in enumerate(providers)]
    return {
        "apiVersion": "switchboard.dev/v1alpha1",
        "kind": "RoutingProfile",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"models": [model], "strategy": strategy, "providers": refs, **spec},
    }


def served_everywhere(system: E2ESystem, model: str) -> bool:
    return all(model in (sdk(url).models.list().model_dump_json()) for url in system.proxy_urls)


def serves_strategy(system: E2ESystem, model: str, strategy: str) -> bool:
    return all(strategy_of(url, model) == strategy for url in system.proxy_urls)


def mock_faults(system: E2ESystem, provider_name: str, method: str, body: dict[str, Any] | None = None) -> None:
    """The mock's runtime fault API, as the printed ``curl -X POST .../_mock/faults`` uses it."""
    url = system.mock_urls[provider_name] + "/_mock/faults"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def rendered(system: E2ESystem, profile: str) -> Any:
    """The profile's rendered ConfigMap, in the release namespace (never the tenant's)."""
    name = f"switchboard-{system.namespace}.{profile}"
    return get_json(system.cluster, "configmap", name, "-n", system.release_namespace)


def test_examples_render_and_every_replica_serves_chat_and_streams(e2e_system: E2ESystem) -> None:
    cluster, ns = e2e_system.cluster, e2e_system.namespace
    for name in EXAMPLE_PROFILES:
        assert rendered(e2e_system, name) is not None
    replicas = str(len(e2e_system.proxy_urls))
    assert table_column(cluster, "rp", "chat", ns, "IN-SYNC") == replicas or wait_for(
        lambda: table_column(cluster, "rp", "chat", ns, "IN-SYNC") == replicas, 30, "every replica in sync"
    )
    for url in e2e_system.proxy_urls:
        client = sdk(url)
        for name, model in EXAMPLE_PROFILES.items():
            raw = client.chat.completions.with_raw_response.create(model=model, messages=MESSAGES)
            reply = raw.parse()
            assert reply.choices[0].message.content, (url, name)
            assert raw.headers["x-switchboard-provider"]
        chunks = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text, url


def test_broken_upstream_opens_circuit_fails_over_and_recovers(e2e_system: E2ESystem) -> None:
    cluster, ns = e2e_system.cluster, e2e_system.namespace
    model, suffix = f"circuit-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex[:6]
    flaky, steady = f"flaky-{suffix}", f"steady-{suffix}"
    breaker = {"consecutiveFailures": 2, "openSeconds": 3, "slowStartSeconds": 0}
    mock = e2e_system.upstream_urls["local-vllm"]  # one mock; faults apply per upstream model name
    apply(
        cluster,
        provider(ns, flaky, mock, model, circuitBreaker=breaker),
        provider(ns, steady, mock, model, models=[{"name": model, "upstreamName": f"{model}-steady"}]),
        profile(ns, f"failover-{suffix}", model, [flaky, steady], "failover", retry={"maxRetries": 2}),
    )
    wait_for(lambda: served_everywhere(e2e_system, model), 30, f"{model} served by every replica")
    wait_for(lambda: table_column(cluster, "llmp", flaky, ns, "CIRCUIT") == "closed", 30, "circuit closed")

    mock_faults(e2e_system, "local-vllm", "POST", {"model": model, "status": 500})
    broken = time.monotonic()
    for url in e2e_system.proxy_urls:
        for _ in range(4):  # every request answers: failover to the steady provider
            raw = sdk(url).chat.completions.with_raw_response.create(model=model, messages=MESSAGES)
            assert raw.headers["x-switchboard-provider"] == steady
    wait_for(lambda: table_column(cluster, "llmp", flaky, ns, "CIRCUIT") == "open", 30, "CIRCUIT open")
    print(f"\ne2e: upstream broken -> CIRCUIT open in kubectl: {time.monotonic() - broken:.2f}s")

    mock_faults(e2e_system, "local-vllm", "DELETE")

    def recovered() -> bool:
        providers = {
            sdk(url)
            .chat.completions.with_raw_response.create(model=model, messages=MESSAGES)
            .headers["x-switchboard-provider"]
            for url in e2e_system.proxy_urls
        }
        return providers == {flaky} and table_column(cluster, "llmp", flaky, ns, "CIRCUIT") == "closed"

    wait_for(recovered, 60, "recovery: probes close the circuit on every replica")


def test_strategy_edit_reaches_every_replica(e2e_system: E2ESystem) -> None:
    cluster, ns = e2e_system.cluster, e2e_system.namespace
    model, name = f"edit-{uuid.uuid4().hex[:6]}", f"edit-{uuid.uuid4().hex[:6]}"
    extra = {"models": [{"name": model, "upstreamName": "llama"}]}
    apply(cluster, provider(ns, f"{name}-p", e2e_system.upstream_urls["local-vllm"], model, **extra))
    providers = [f"{name}-p"]
    apply(cluster, profile(ns, name, model, providers, "failover"))
    wait_for(lambda: serves_strategy(e2e_system, model, "failover"), 30, "first strategy")
    figures = []
    for strategy in ("round-robin", "random", "least-latency", "weighted", "failover", "least-busy"):
        started = time.monotonic()
        apply(cluster, profile(ns, name, model, providers, strategy))
        wait_for(partial(serves_strategy, e2e_system, model, strategy), 60, f"{strategy} on every replica")
        figures.append(time.monotonic() - started)
    print(
        f"\ne2e: kubectl apply (strategy edit) -> served by both replicas: p50 {statistics.median(figures):.2f}s, "
        f"max {max(figures):.2f}s over {len(figures)} edits"
    )  # a figure, not an assertion: speed is measured in bench/, a loaded CI machine is slow


def test_deleting_a_profile_garbage_collects_its_config_map(e2e_system: E2ESystem) -> None:
    cluster, ns = e2e_system.cluster, e2e_system.namespace
    name = f"gone-{uuid.uuid4().hex[:6]}"
    apply(
        cluster,
        provider(ns, f"{name}-p", e2e_system.upstream_urls["local-vllm"], name),
        profile(ns, name, name, [f"{name}-p"], "failover"),
    )
    wait_for(lambda: served_everywhere(e2e_system, name), 30, f"{name} served")
    assert rendered(e2e_system, name) is not None
    cluster.kubectl("delete", "rp", name, "-n", ns)
    wait_for(lambda: rendered(e2e_system, name) is None, 60, "ConfigMap removed by the operator")
    wait_for(lambda: not served_everywhere(e2e_system, name), 30, "proxies drop the model")
    with pytest.raises(openai.NotFoundError):
        sdk(e2e_system.proxy_urls[0]).chat.completions.create(model=name, messages=MESSAGES)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"spec": {"strategy": "fastest-please"}}, "fastest-please"),
        ({"spec": {"retry": {"maxRetries": -1}}}, "maxRetries"),
        ({"spec": {"providers": []}}, "providers"),
    ],
)
def test_invalid_resource_is_refused_with_a_readable_message(
    e2e_system: E2ESystem, change: dict[str, Any], message: str
) -> None:
    cluster, ns = e2e_system.cluster, e2e_system.namespace
    doc = profile(ns, "invalid", "invalid-model", ["local-vllm"], "failover")
    doc["spec"].update(change["spec"])
    done = cluster.kubectl("apply", "-f", "-", input=json.dumps(doc), check=False)
    assert done.returncode != 0
    assert "is invalid" in done.stderr and message in done.stderr, done.stderr
    assert get_json(cluster, "rp", "invalid", "-n", ns) is None


def test_no_api_key_in_config_maps_status_events_or_logs(e2e_system: E2ESystem) -> None:
    """Runs last in the module: by now every process has logged traffic, reloads and faults."""
    cluster = e2e_system.cluster
    keys = [m.api_key for m in mock_upstreams(load_examples()) if m.api_key]
    assert keys, "the examples carry dummy keys"
    places: dict[str, str] = {}
    for ns in (e2e_system.namespace, e2e_system.release_namespace):
        places[f"configmaps/{ns}"] = json.dumps(get_json(cluster, "configmaps", "-n", ns))
        places[f"events/{ns}"] = json.dumps(get_json(cluster, "events", "-n", ns))
    for kind in ("llmproviders", "routingprofiles"):
        items = get_json(cluster, kind, "-n", e2e_system.namespace)["items"]
        assert items
        places[f"{kind}/status"] = json.dumps([item.get("status") for item in items])
    places.update({f"log/{name}": text for name, text in e2e_system.logs().items()})
    assert any("operator" in p for p in places) and any("proxy" in p for p in places)
    leaks = [(place, key[:6]) for place, text in places.items() for key in keys if key in text]
    assert not leaks
    # the keys did reach the upstreams: the example mocks demand them and answered
    assert sdk(e2e_system.proxy_urls[0]).chat.completions.create(model="gpt-4o", messages=MESSAGES).choices
