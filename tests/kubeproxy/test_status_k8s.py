"""Status pushed into LLMProvider and RoutingProfile through a real API server (proxy RBAC)."""

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from kubernetes_asyncio import client

from switchboard.api.aggregation import Timing
from switchboard.api.kube_client import new_api_client
from switchboard.api.status import CONFIG_HASH_ANNOTATION, ProviderHealth
from switchboard.proxy.kube import ClusterMode, ClusterSettings
from switchboard.proxy.kube.rendered import ObjectRef
from switchboard.proxy.kube.reporter import StatusReporter
from tests.fixtures.kubeproxy import (
    LOOPBACK_EGRESS,
    KubeApply,
    RecordingRuntime,
    rendered_config_text,
    rendered_configmap,
)

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(180), pytest.mark.usefixtures("switchboard_crds")]


def _provider(ns: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "switchboard.dev/v1alpha1",
        "kind": "LLMProvider",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"type": "openai-compatible", "baseUrl": "http://127.0.0.1:9/v1", "models": [{"name": "gpt-4o"}]},
    }


def _profile(ns: str, name: str, provider: str) -> dict[str, Any]:
    return {
        "apiVersion": "switchboard.dev/v1alpha1",
        "kind": "RoutingProfile",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"models": ["gpt-4o"], "providers": [{"name": provider}]},
    }


def _settings(cluster: Any, ns: str, replica: str, **extra: Any) -> ClusterSettings:
    values: dict[str, Any] = {"status_interval_s": 0.3, "replica_ttl_s": 30.0, "heartbeat_s": 10.0, **extra}
    return ClusterSettings(
        egress=LOOPBACK_EGRESS,
        kubeconfig=str(cluster.proxy_kubeconfig),
        namespaces=(ns,),
        own_namespace=cluster.namespace,
        replica=replica,
        **values,
    )


async def _until(kube: KubeApply, predicate: Any, *get_args: str) -> Any:
    """Poll ``kubectl get -o json`` until ``predicate(obj)`` (at most 20 s); returns the object."""
    async with asyncio.timeout(20):
        while True:
            obj = await kube.get_json(*get_args)
            if predicate(obj):
                return obj
            await asyncio.sleep(0.2)


async def _setup_objects(kube: KubeApply, ns: str) -> str:
    """Provider + profile CRs and the profile's rendered ConfigMap; returns the config hash."""
    await kube.apply(_provider(ns, "openai"))
    await kube.apply(_profile(ns, "chat", "openai"))
    manifest = rendered_configmap(ns, "chat-rendered", rendered_config_text(ns, "chat", "openai"), None)
    await kube.apply(manifest)
    digest: str = manifest["metadata"]["annotations"][CONFIG_HASH_ANNOTATION]
    # what the operator does: publish the hash every replica should serve
    patch = json.dumps({"status": {"configHash": digest}})
    await kube.run("patch", "routingprofile", "chat", "-n", ns, "--subresource=status", "--type=merge", "-p", patch)
    return digest


async def test_two_replicas_write_own_entries_and_aggregate(
    kube_cluster: Any, kube_namespace: str, kube: KubeApply, credentials_secret: str
) -> None:
    ns = kube_namespace
    digest = await _setup_objects(kube, ns)
    key = f"{ns}/openai"
    healthy = RecordingRuntime({key: ProviderHealth(ema_ms=100, p50_ms=90, p95_ms=200, requests_per_minute=6)})
    failing = RecordingRuntime(
        {key: ProviderHealth(circuit="closed", ema_ms=300, p95_ms=900, error_rate=0.5, requests_per_minute=2)}
    )
    async with (
        ClusterMode(healthy, _settings(kube_cluster, ns, "proxy-a")) as a,
        ClusterMode(failing, _settings(kube_cluster, ns, "proxy-b")) as b,
    ):
        await asyncio.wait_for(asyncio.gather(a.wait_synced(), b.wait_synced()), 30)
        status = (
            await _until(kube, lambda o: len(o.get("status", {}).get("replicas", [])) == 2, "llmp", "openai", "-n", ns)
        )["status"]
        assert [r["replica"] for r in status["replicas"]] == ["proxy-a", "proxy-b"]
        assert status["summary"]["emaMs"] == 200.0 and status["summary"]["p95Ms"] == 900.0
        assert status["summary"]["requestsPerMinute"] == 8.0
        # the circuit opens on one replica: the summary (printer column) shows it within seconds
        failing.health[key] = ProviderHealth(circuit="open", last_error="HTTP 503 from upstream")
        obj = await _until(kube, lambda o: o["status"]["summary"]["circuit"] == "open", "llmp", "openai", "-n", ns)
        assert obj["status"]["summary"]["lastError"] == "HTTP 503 from upstream"
        columns = await kube.run("get", "llmp", "openai", "-n", ns)
        assert "open" in columns
        profile = await _until(kube, lambda o: o["status"].get("inSyncReplicas") == 2, "rp", "chat", "-n", ns)
        assert {(r["replica"], r["configHash"]) for r in profile["status"]["replicas"]} == {
            ("proxy-a", digest),
            ("proxy-b", digest),
        }
        assert profile["status"]["configHash"] == digest  # the operator's field is untouched


async def test_stale_replica_is_pruned(
    kube_cluster: Any, kube_namespace: str, kube: KubeApply, credentials_secret: str
) -> None:
    ns = kube_namespace
    await _setup_objects(kube, ns)
    runtime = RecordingRuntime({f"{ns}/openai": ProviderHealth(ema_ms=50)})
    timing = {"replica_ttl_s": 3.0, "heartbeat_s": 1.0}
    async with ClusterMode(runtime, _settings(kube_cluster, ns, "proxy-live", **timing)):
        async with ClusterMode(runtime, _settings(kube_cluster, ns, "proxy-gone", **timing)):
            await _until(kube, lambda o: len(o.get("status", {}).get("replicas", [])) == 2, "llmp", "openai", "-n", ns)
        # proxy-gone stopped writing: after the TTL the live replica's heartbeat prunes it
        obj = await _until(kube, lambda o: len(o["status"]["replicas"]) == 1, "llmp", "openai", "-n", ns)
        assert obj["status"]["replicas"][0]["replica"] == "proxy-live"
        profile = await _until(kube, lambda o: len(o["status"]["replicas"]) == 1, "rp", "chat", "-n", ns)
        assert profile["status"]["inSyncReplicas"] == 1


class CountingCustomObjectsApi(client.CustomObjectsApi):  # type: ignore[misc]
    """Counts the status PATCH requests the reporter sends."""

    patches = 0

    async def patch_namespaced_custom_object_status(self, *args: Any, **kwargs: Any) -> Any:
        self.patches += 1
        return await super().patch_namespaced_custom_object_status(*args, **kwargs)


async def test_writes_are_coalesced_to_one_per_interval(
    kube_cluster: Any, kube_namespace: str, kube: KubeApply
) -> None:
    ns = kube_namespace
    await kube.apply(_provider(ns, "openai"))
    key = f"{ns}/openai"
    runtime = RecordingRuntime({key: ProviderHealth(ema_ms=100)})
    api_client = await new_api_client(str(kube_cluster.proxy_kubeconfig))
    async with api_client:
        api = CountingCustomObjectsApi(api_client)
        timing = Timing(ttl=timedelta(seconds=60), heartbeat=timedelta(seconds=20))
        reporter = StatusReporter(api, "proxy-c", runtime, dict, timing, interval_s=1.0)
        loop = asyncio.get_running_loop()
        started = loop.time()
        task = asyncio.create_task(reporter.run())
        snapshots = 0
        for i in range(60):  # 60 different snapshots over ~3 s (longer on a loaded machine)
            runtime.health[key] = ProviderHealth(ema_ms=100 + i, circuit="open" if i % 2 else "closed")
            snapshots += 1
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        rounds = int(loop.time() - started) + 1  # one at once, then at most one per 1 s interval
        await reporter.tick()  # flush the last snapshot
        written = api.patches
        await reporter.tick()
        await reporter.tick()
        assert api.patches == written  # nothing changed: no write (and no GET either)
    print(f"\n{snapshots} snapshots over {rounds} s at a 1 s interval -> {written} status PATCH requests")
    assert snapshots == 60 and 2 <= written <= rounds + 1  # + the flush
    obj = await kube.get_json("llmp", "openai", "-n", ns)
    assert [r["replica"] for r in obj["status"]["replicas"]] == ["proxy-c"]
    assert ObjectRef(ns, "openai") == ObjectRef(obj["metadata"]["namespace"], obj["metadata"]["name"])
