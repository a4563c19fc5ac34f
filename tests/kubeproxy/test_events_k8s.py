"""Circuit and failover-storm Events through a real API server, with the proxy's RBAC."""

import asyncio
from typing import Any

import pytest
from kubernetes_asyncio import client

from switchboard.api.kube_client import new_api_client
from switchboard.api.status import ProviderHealth
from switchboard.proxy.kube import ClusterMode, ClusterSettings
from switchboard.proxy.kube.event_rules import EventThrottle, StormDetector
from switchboard.proxy.kube.events import EventPoster
from switchboard.proxy.kube.health_events import HealthEvents
from tests.fixtures.kubeproxy import (
    LOOPBACK_EGRESS,
    KubeApply,
    RecordingRuntime,
    rendered_config_text,
    rendered_configmap,
)

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(180), pytest.mark.usefixtures("switchboard_crds")]

OPEN = ProviderHealth(circuit="open", error_rate=1.0, last_error="upstream answered 503: overloaded")
CLOSED = ProviderHealth()


async def _objects(kube: KubeApply, ns: str) -> None:
    """LLMProvider ``openai``, RoutingProfile ``chat`` and the profile's rendered ConfigMap."""
    spec = {"type": "openai-compatible", "baseUrl": "http://127.0.0.1:9/v1", "models": [{"name": "gpt-4o"}]}
    base = {"apiVersion": "switchboard.dev/v1alpha1"}
    await kube.apply({**base, "kind": "LLMProvider", "metadata": {"name": "openai", "namespace": ns}, "spec": spec})
    profile_spec = {"models": ["gpt-4o"], "providers": [{"name": "openai"}]}
    await kube.apply(
        {**base, "kind": "RoutingProfile", "metadata": {"name": "chat", "namespace": ns}, "spec": profile_spec}
    )
    await kube.apply(rendered_configmap(ns, "chat-rendered", rendered_config_text(ns, "chat", "openai"), None))


async def _events(kube: KubeApply, ns: str, reason: str) -> list[dict[str, Any]]:
    listed = await kube.get_json("events", "-n", ns, "--field-selector", f"reason={reason}")
    return list(listed["items"])


async def _until_events(kube: KubeApply, ns: str, reason: str) -> list[dict[str, Any]]:
    async with asyncio.timeout(30):
        while True:
            found = await _events(kube, ns, reason)
            if found:
                return found
            await asyncio.sleep(0.2)


async def test_a_tripped_circuit_and_a_failover_storm_show_in_describe(
    kube_cluster: Any, kube_namespace: str, kube: KubeApply, credentials_secret: str
) -> None:
    ns = kube_namespace
    await _objects(kube, ns)
    runtime = RecordingRuntime({f"{ns}/openai": CLOSED})
    settings = ClusterSettings(
        egress=LOOPBACK_EGRESS,
        kubeconfig=str(kube_cluster.proxy_kubeconfig),
        namespaces=(ns,),
        own_namespace=kube_cluster.namespace,
        replica="proxy-a",
        status_interval_s=0.2,
        storm_threshold=5,
        storm_window_s=30.0,
    )
    async with ClusterMode(runtime, settings) as mode:
        await asyncio.wait_for(mode.wait_synced(), 30)
        runtime.health[f"{ns}/openai"] = OPEN
        runtime.retried[f"{ns}/chat"] += 8
        [opened] = await _until_events(kube, ns, "CircuitOpened")
        [storm] = await _until_events(kube, ns, "FailoverStorm")
        described = await kube.run("describe", "llmp", "openai", "-n", ns)
        profile_described = await kube.run("describe", "rp", "chat", "-n", ns)
    assert opened["type"] == "Warning" and opened["involvedObject"]["kind"] == "LLMProvider"
    assert opened["message"].startswith("replica proxy-a: circuit opened (error rate 100%")
    assert "CircuitOpened" in described and "upstream answered 503: overloaded" in described
    assert storm["involvedObject"]["kind"] == "RoutingProfile" and storm["involvedObject"]["name"] == "chat"
    assert "FailoverStorm" in profile_described and "8 attempts retried" in profile_described
    assert len(await _events(kube, ns, "CircuitOpened")) == 1  # the circuit stayed open: no repeats


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_flapping_circuit_does_not_flood(
    kube_cluster: Any, kube_namespace: str, kube: KubeApply, credentials_secret: str
) -> None:
    ns = kube_namespace
    await _objects(kube, ns)
    key = f"{ns}/openai"
    runtime = RecordingRuntime({key: CLOSED})
    clock = ManualClock()
    api = await new_api_client(str(kube_cluster.proxy_kubeconfig))
    try:
        events = HealthEvents(
            EventPoster(client.CoreV1Api(api), "proxy-b"),
            client.CustomObjectsApi(api),
            "proxy-b",
            runtime,
            StormDetector(threshold=100, window_s=60),
            EventThrottle(min_interval_s=300),
            clock,
        )
        for flip in range(40):  # one state change per status tick, for 40 s
            runtime.health[key] = OPEN if flip % 2 == 0 else CLOSED
            await events.tick()
            clock.now += 1
        assert [len(await _events(kube, ns, r)) for r in ("CircuitOpened", "CircuitClosed")] == [1, 1]
        clock.now += 300  # the interval passed: the next opening is posted with the tally
        runtime.health[key] = OPEN
        await events.tick()
    finally:
        await api.close()
    messages = sorted(e["message"] for e in await _events(kube, ns, "CircuitOpened"))
    assert len(messages) == 2
    assert messages[1].endswith("(19 more CircuitOpened since the last such Event were not posted)")
