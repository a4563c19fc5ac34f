"""The real proxy app in cluster mode: rendered ConfigMaps and the credentials Secret from a
real API server (proxy RBAC), the mock upstream, the openai SDK as client, status back."""

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import openai
import pytest

from switchboard.proxy.kube import ClusterSettings
from tests.fixtures.kubeproxy import (
    LOOPBACK_EGRESS,
    KubeApply,
    rendered_config_text,
    rendered_configmap,
    secret_manifest,
)

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(240), pytest.mark.usefixtures("switchboard_crds")]

MODEL = "mock-model"
NO_RETRY = {"retry": {"maxRetries": 0}}


async def _models(base_url: str) -> list[str]:
    async with aiohttp.ClientSession() as s, s.get(base_url + "/readyz") as r:
        body = await r.json()
        return list(body.get("models", [])) if r.status == 200 else []


async def _eventually(check: Callable[[], Awaitable[bool]], seconds: float = 60.0) -> None:
    async with asyncio.timeout(seconds):
        while not await check():  # noqa: ASYNC110 - polling an external system
            await asyncio.sleep(0.02)


def _configmap(ns: str, mock_url: str, models: tuple[str, ...], key: str, open_s: float = 60) -> dict[str, Any]:
    breaker = {"circuitBreaker": {"consecutiveFailures": 2, "minimumRequests": 2, "openSeconds": open_s}}
    text = rendered_config_text(
        ns, "chat", "mock", models, secret_key=key, base_url=mock_url + "/v1", provider_extra=breaker,
        profile_extra=NO_RETRY,
    )  # fmt: skip
    return rendered_configmap(ns, "chat-rendered", text, resource_version=None)


async def test_proxy_serves_cluster_config_rotates_keys_and_reports_open_circuit(
    kube_cluster: Any,
    kube_namespace: str,
    kube: KubeApply,
    credentials_secret: str,
    mock_upstream_factory: Any,
    cluster_proxy: Callable[[ClusterSettings], Awaitable[str]],
) -> None:
    ns, key = kube_namespace, f"{kube_namespace}.mock"
    mock = await mock_upstream_factory(api_key="sk-right-key")
    await kube.apply(secret_manifest(kube_cluster.namespace, {key: "sk-wrong-key"}))
    provider_cr = {
        "apiVersion": "switchboard.dev/v1alpha1",
        "kind": "LLMProvider",
        "metadata": {"name": "mock", "namespace": ns},
        "spec": {"type": "openai-compatible", "baseUrl": mock.base_url + "/v1", "models": [{"name": MODEL}]},
    }
    await kube.apply(provider_cr)
    # a short open period: the engine counts 401 as a provider failure and guards the provider
    await kube.apply(_configmap(ns, mock.base_url, (MODEL,), key, open_s=0.5))
    settings = ClusterSettings(
        egress=LOOPBACK_EGRESS,
        kubeconfig=str(kube_cluster.proxy_kubeconfig),
        namespaces=(ns,),
        own_namespace=kube_cluster.namespace,
        replica="proxy-e2e",
        status_interval_s=1.0,
    )
    base_url = await cluster_proxy(settings)
    await _eventually(lambda: _has_model(base_url, MODEL))
    async with aiohttp.ClientSession() as s, s.get(base_url + "/readyz") as r:
        source = (await r.json())["source"]
    assert source["kind"] == "kubernetes" and source["apiServer"] == "connected" and "configAgeSeconds" in source
    async with aiohttp.ClientSession() as s, s.get(base_url + "/metrics") as r:
        assert "switchboard_kube_api_connected 1.0" in await r.text()
    sdk = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="client", max_retries=0)
    messages: Any = [{"role": "user", "content": "hi"}]
    async with sdk:
        with pytest.raises(openai.APIStatusError):  # the upstream refuses the wrong key
            await sdk.chat.completions.create(model=MODEL, messages=messages)
        # rotate the key in the Secret: the proxy re-resolves it without a config change
        await kube.apply(secret_manifest(kube_cluster.namespace, {key: "sk-right-key"}))

        async def answers() -> bool:
            try:
                reply = await sdk.chat.completions.create(model=MODEL, messages=messages)
            except openai.APIStatusError:
                return False
            return bool(reply.choices)

        await _eventually(answers)

        # kubectl apply -> served by the proxy (/readyz lists the served models)
        latencies = []
        for i in range(5):
            extra = f"alias-{i}"
            started = time.monotonic()
            await kube.apply(_configmap(ns, mock.base_url, (MODEL, extra), key))
            await _eventually(lambda extra=extra: _has_model(base_url, extra))  # type: ignore[misc]
            latencies.append(time.monotonic() - started)
        print(
            f"\nproxy e2e: kubectl apply -> served, p50 {statistics.median(latencies) * 1000:.0f} ms, "
            f"max {max(latencies) * 1000:.0f} ms"
        )

        async def circuit() -> str | None:
            obj = await kube.get_json("llmp", "mock", "-n", ns)
            return obj.get("status", {}).get("summary", {}).get("circuit")  # type: ignore[no-any-return]

        async def status_closed() -> bool:
            return await circuit() == "closed"

        await _eventually(status_closed)  # the successful calls closed it again
        # upstream fails: the breaker trips and the LLMProvider status shows it within seconds
        await mock.set_faults(MODEL, status=503)
        for _ in range(3):
            with pytest.raises(openai.APIStatusError):
                await sdk.chat.completions.create(model=MODEL, messages=messages)
        opened = time.monotonic()

        async def status_open() -> bool:  # openSeconds is 60 now: it cannot be half-open yet
            return await circuit() == "open"

        await _eventually(status_open, seconds=45)  # bounded below the 60 s openSeconds
        print(f"circuit open -> LLMProvider status: {(time.monotonic() - opened) * 1000:.0f} ms")
    obj = await kube.get_json("llmp", "mock", "-n", ns)
    assert [r["replica"] for r in obj["status"]["replicas"]] == ["proxy-e2e"]
    assert "sk-" not in json.dumps(obj["status"])


async def _has_model(base_url: str, model: str) -> bool:
    try:
        return model in await _models(base_url)
    except aiohttp.ClientError:
        return False
