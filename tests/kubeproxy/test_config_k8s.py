"""Config and credentials through a real API server, as the proxy's ServiceAccount (chart RBAC)."""

import asyncio
import logging
import statistics
import time
from typing import Any

import pytest

from switchboard.proxy.kube import ClusterMode, ClusterSettings, KubernetesSource
from tests.fixtures.kubeproxy import (
    LOOPBACK_EGRESS,
    KubeApply,
    RecordingRuntime,
    rendered_config_text,
    rendered_configmap,
    rendered_name,
    secret_manifest,
)
from tests.fixtures.proxy import bare_runtime

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(180)]


def _settings(cluster: Any, namespace: str, replica: str = "proxy-0", **extra: Any) -> ClusterSettings:
    return ClusterSettings(
        egress=LOOPBACK_EGRESS,
        kubeconfig=str(cluster.proxy_kubeconfig),
        namespaces=(namespace,),
        own_namespace=cluster.namespace,
        replica=replica,
        **extra,
    )


def _manifest(namespace: str, name: str, provider: str, models: tuple[str, ...], **kw: Any) -> dict[str, Any]:
    text = rendered_config_text(namespace, name, provider, models, **kw)
    return rendered_configmap(namespace, f"{name}-rendered", text, resource_version=None)


def _serves(model: str) -> Any:
    return lambda config: model in config.served_models()


async def test_configmap_create_and_update_reach_the_proxy(
    kube_cluster: Any, kube_namespace: str, kube: KubeApply, credentials_secret: str
) -> None:
    ns = kube_namespace
    await kube.apply(_manifest(ns, "chat", "openai", ("m-0",)))
    runtime = RecordingRuntime()
    async with ClusterMode(runtime, _settings(kube_cluster, ns)) as mode:
        await asyncio.wait_for(mode.wait_synced(), 30)
        assert runtime.current is not None and runtime.current.served_models() == ["m-0"]
        latencies, after_kubectl = [], []
        for i in range(1, 9):
            started = time.monotonic()
            await kube.apply(_manifest(ns, "chat", "openai", (f"m-{i}",)))
            returned = time.monotonic()
            await asyncio.wait_for(runtime.wait_for(_serves(f"m-{i}")), 15)
            applied = runtime.applied_at[-1]
            latencies.append(applied - started)
            after_kubectl.append(max(0.0, applied - returned))
        await kube.apply(_manifest(ns, "embed", "other", ("e-1",)))  # a second ConfigMap merges in
        config = await asyncio.wait_for(runtime.wait_for(_serves("e-1")), 15)
        assert config.served_models() == ["e-1", "m-8"]
        await kube.run("delete", "configmap", rendered_name(ns, "embed-rendered"), "-n", kube_cluster.namespace)
        await asyncio.wait_for(runtime.wait_for(lambda c: c.served_models() == ["m-8"]), 15)
    print(
        f"\nkubectl apply -> config applied, {len(latencies)} updates: "
        f"p50 {statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms "
        f"(from kubectl exit: p50 {statistics.median(after_kubectl) * 1000:.0f} ms, "
        f"max {max(after_kubectl) * 1000:.0f} ms)"
    )


async def test_invalid_configmap_is_skipped_and_last_good_keeps_serving(
    kube_cluster: Any, kube_namespace: str, kube: KubeApply, credentials_secret: str, caplog: Any
) -> None:
    ns = kube_namespace
    await kube.apply(_manifest(ns, "chat", "openai", ("good-1",)))
    await kube.apply(_manifest(ns, "other", "anthropic", ("other-1",)))
    runtime = RecordingRuntime()
    caplog.set_level(logging.INFO, logger="switchboard.proxy.kube")
    async with ClusterMode(runtime, _settings(kube_cluster, ns)) as mode:
        await asyncio.wait_for(mode.wait_synced(), 30)
        broken = _manifest(ns, "chat", "openai", ("bad",))
        broken["data"]["config.yaml"] = broken["data"]["config.yaml"].replace("openai-compatible", "nonsense")
        await kube.apply(broken)
        fresh_broken = _manifest(ns, "fresh", "new", ("fresh-1",))  # a brand-new broken one too
        fresh_broken["data"]["config.yaml"] = "providers: 7"
        await kube.apply(fresh_broken)
        await kube.apply(_manifest(ns, "other", "anthropic", ("other-2",)))  # the rest still flows
        config = await asyncio.wait_for(runtime.wait_for(_serves("other-2")), 15)
        assert config.served_models() == ["good-1", "other-2"]
        assert all({"bad", "fresh-1"}.isdisjoint(c.served_models()) for c in runtime.configs)
        release = kube_cluster.namespace
        events = await kube.get_json("events", "-n", release, "--field-selector", "reason=InvalidConfig")
        messages = {e["involvedObject"]["name"]: e["message"] for e in events["items"]}
        assert "providers[0].type" in messages[rendered_name(ns, "chat-rendered")]
        assert "providers" in messages[rendered_name(ns, "fresh-rendered")]
    logged = caplog.text
    assert f"ConfigMap {release}/{ns}.chat-rendered: config.yaml: providers[0].type" in logged
    assert f"ConfigMap {release}/{ns}.fresh-rendered" in logged


async def test_secret_change_re_resolves_keys_in_the_proxy_runtime_and_keys_are_never_logged(
    kube_cluster: Any, kube_namespace: str, kube: KubeApply, credentials_secret: str, caplog: Any
) -> None:
    ns = kube_namespace
    key = f"{ns}.openai"
    caplog.set_level(logging.DEBUG)
    await kube.apply(_manifest(ns, "chat", "openai", ("gpt-4o",), secret_key=key))
    source = KubernetesSource(_settings(kube_cluster, ns))
    runtime = bare_runtime(secrets=source.secrets, egress=LOOPBACK_EGRESS)

    def served_key() -> str | None:
        if not runtime.ready or "gpt-4o" not in runtime.snapshot.config.served_models():
            return None
        key = runtime.snapshot.credentials.get(f"{ns}/openai")
        return key.reveal() if key else None

    async def until_key(value: str) -> None:
        async with asyncio.timeout(30):
            while served_key() != value:  # noqa: ASYNC110 - the runtime has no change signal
                await asyncio.sleep(0.05)

    try:
        async with ClusterMode(runtime, source.settings, source.credentials):
            async with asyncio.timeout(30):  # the ConfigMap was seen and refused
                while f"has no key {key!r}" not in caplog.text:  # noqa: ASYNC110 - polling the log
                    await asyncio.sleep(0.05)
            # key missing: that ConfigMap is left out (others would still be served), the error says which key
            assert not runtime.ready or runtime.snapshot.config.served_models() == []
            await kube.apply(secret_manifest(kube_cluster.namespace, {key: "sk-first-0001"}))
            await until_key("sk-first-0001")
            await kube.apply(secret_manifest(kube_cluster.namespace, {key: "sk-second-0002"}))
            await until_key("sk-second-0002")
    finally:
        await runtime.close()
    assert f"has no key {key!r}" in caplog.text
    assert "sk-first" not in caplog.text and "sk-second" not in caplog.text


async def test_all_namespaces_mode_serves_every_namespaces_profiles(
    kube_cluster: Any, kube_namespace: str, kube: KubeApply, credentials_secret: str
) -> None:
    ns = kube_namespace
    await kube.apply(_manifest(ns, "wide", "openai", (f"wide-{ns}",)))
    settings = ClusterSettings(
        egress=LOOPBACK_EGRESS,
        kubeconfig=str(kube_cluster.proxy_kubeconfig),
        own_namespace=kube_cluster.namespace,
        replica="proxy-wide",
    )
    runtime = RecordingRuntime()
    async with ClusterMode(runtime, settings) as mode:
        await asyncio.wait_for(mode.wait_synced(), 30)
        await asyncio.wait_for(runtime.wait_for(_serves(f"wide-{ns}")), 15)


async def test_api_server_restart_keeps_last_config_and_catches_up(
    kube_cluster: Any, kube_namespace: str, kube: KubeApply, credentials_secret: str
) -> None:
    ns = kube_namespace
    await kube.apply(_manifest(ns, "chat", "openai", ("listed",)))
    runtime = RecordingRuntime()
    async with ClusterMode(runtime, _settings(kube_cluster, ns)) as mode:
        await asyncio.wait_for(mode.wait_synced(), 30)
        await kube.apply(_manifest(ns, "chat", "openai", ("before",)))  # arrives only through an open watch
        await asyncio.wait_for(runtime.wait_for(_serves("before")), 30)
        applies = len(runtime.configs)
        # Control-plane calls stay on the main thread on purpose: the components are tied to
        # the thread that started them (PDEATHSIG), and asyncio.to_thread's worker exits later.
        kube_cluster.stop_apiserver()
        async with asyncio.timeout(60):  # an outage of 2 s as the replica sees it: informers fail and back off
            while mode.connection.detail().get("lostForSeconds", 0) < 2:  # noqa: ASYNC110 - polling its state
                await asyncio.sleep(0.05)
        assert runtime.current is not None and runtime.current.served_models() == ["before"]
        assert len(runtime.configs) == applies  # nothing was applied (in particular no empty config)
        detail = mode.connection.detail()  # what /readyz and the metrics say meanwhile
        assert detail["apiServer"] == "lost" and detail["configAgeSeconds"] > 0
        kube_cluster.start_apiserver()
        await kube.apply(_manifest(ns, "chat", "openai", ("after",)))
        await asyncio.wait_for(runtime.wait_for(_serves("after")), 30)
        assert mode.connection.connected
        kube_cluster.restart_apiserver()  # and a quick restart
        await kube.apply(_manifest(ns, "chat", "openai", ("again",)))
        await asyncio.wait_for(runtime.wait_for(_serves("again")), 30)
        assert all(len(c.served_models()) == 1 for c in runtime.configs)
