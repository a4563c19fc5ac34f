"""Service-backed providers on the local control plane, end to end.

Real parts: the API server (Service, EndpointSlice, CRDs, RBAC), the operator
(resolves the Service port, ResolvedRefs), the proxy app in cluster mode under
the chart's proxy RBAC (follows the EndpointSlices), mock model servers in
their own network namespaces at the slice's addresses, a mock API provider on
loopback, and the openai SDK as the client.
"""

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web

from switchboard.proxy.app import create_app
from switchboard.proxy.http.app_keys import RUNTIME
from switchboard.proxy.kube import ClusterSettings, KubernetesSource
from switchboard.proxy.runtime import Runtime
from tests.fixtures.kubeproxy import LOOPBACK_EGRESS, KubeApply
from tests.fixtures.netns import NetnsServer

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(300), pytest.mark.usefixtures("switchboard_crds")]

MODEL = "mock-model"
MESSAGES: Any = [{"role": "user", "content": "hello"}]


def service(ns: str) -> dict[str, Any]:
    """No selector: the test owns the EndpointSlices, as a model-serving controller would."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "vllm", "namespace": ns},
        "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8000, "protocol": "TCP"}]},
    }


def endpoint_slice(ns: str, servers: list[NetnsServer], not_ready: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "vllm-1", "namespace": ns, "labels": {"kubernetes.io/service-name": "vllm"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8000, "protocol": "TCP"}],
        "endpoints": [{"addresses": [s.ip], "conditions": {"ready": s.ip not in not_ready}} for s in servers],
    }


def providers(ns: str, cloud_url: str) -> list[dict[str, Any]]:
    local = {
        "type": "openai-compatible",
        "service": {"name": "vllm", "port": 80},  # by number: the operator resolves it to the port name
        # A long ejection: the killed endpoint must still read "ejected" (and ENDPOINTS 2/3) however slow the
        # machine; it never comes back in this test.
        "endpointPicking": {
            "saturation": {"maxInFlight": 2},
            "ejection": {"consecutiveFailures": 2, "ejectionSeconds": 300},
        },
        "models": [{"name": MODEL}],
    }
    cloud = {"type": "openai-compatible", "baseUrl": cloud_url + "/v1", "models": [{"name": MODEL}]}
    profile = {
        "models": [MODEL],
        "providers": [{"name": "local", "priority": 0}, {"name": "cloud", "priority": 1}],
        "retry": {"backoffBaseMs": 0},
    }
    return [
        _resource("LLMProvider", ns, "local", local),
        _resource("LLMProvider", ns, "cloud", cloud),
        _resource("RoutingProfile", ns, "chat", profile),
    ]


def _resource(kind: str, ns: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    meta = {"name": name, "namespace": ns}
    return {"apiVersion": "switchboard.dev/v1alpha1", "kind": kind, "metadata": meta, "spec": spec}


async def eventually(check: Callable[[], Awaitable[bool] | bool], seconds: float = 60.0, poll: float = 0.02) -> None:
    async with asyncio.timeout(seconds):
        while True:
            result = check()
            if await result if not isinstance(result, bool) else result:
                return
            await asyncio.sleep(poll)


ProxyStarter = Callable[[ClusterSettings], Awaitable[tuple[str, Runtime]]]


@pytest.fixture
async def cluster_proxy(kube_cluster: Any) -> AsyncIterator[ProxyStarter]:
    async with AsyncExitStack() as stack:

        async def start(settings: ClusterSettings) -> tuple[str, Runtime]:
            app = create_app(KubernetesSource(settings))
            runner = web.AppRunner(app, shutdown_timeout=1.0, handler_cancellation=True)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            return f"http://127.0.0.1:{runner.addresses[0][1]}", app[RUNTIME]

        yield start


async def served_by(sdk: openai.AsyncOpenAI) -> str:
    raw = await sdk.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    assert raw.parse().choices[0].message.content == "hello"
    return raw.headers["x-switchboard-provider"]


async def totals(servers: list[NetnsServer]) -> list[int]:
    return [int((await s.control.stats())["total"]) for s in servers]


async def test_service_backed_provider_balances_ejects_spills_and_follows_slices(
    kube_cluster: Any,
    kube_namespace: str,
    kube: KubeApply,
    credentials_secret: str,
    start_operator: Any,
    netns_model_servers: Callable[[int], Awaitable[list[NetnsServer]]],
    mock_upstream_factory: Any,
    cluster_proxy: ProxyStarter,
) -> None:
    ns = kube_namespace
    servers = await netns_model_servers(4)
    first, spare = servers[:3], servers[3]
    cloud = await mock_upstream_factory()
    await kube.apply(service(ns))
    await kube.apply(endpoint_slice(ns, first))
    for obj in providers(ns, cloud.base_url):
        await kube.apply(obj)
    start_operator(ns)

    async def resolved() -> bool:
        obj = await kube.get_json("llmp", "local", "-n", ns)
        conditions = {c["type"]: c for c in obj.get("status", {}).get("conditions", [])}
        return conditions.get("ResolvedRefs", {}).get("status") == "True"

    await eventually(resolved)
    settings = ClusterSettings(
        kubeconfig=str(kube_cluster.proxy_kubeconfig),
        namespaces=(ns,),
        own_namespace=kube_cluster.namespace,
        replica="proxy-endpoints",
        status_interval_s=0.5,
        egress=LOOPBACK_EGRESS,  # the API provider's mock is on loopback
    )
    base_url, runtime = await cluster_proxy(settings)
    key = f"{ns}/local"

    def members() -> set[str]:
        pool = runtime.router.endpoints.pools.get(key)
        return {k for k, m in pool.members.items() if m.address.ready} if pool else set()

    await eventually(lambda: members() == {f"{s.ip}:8000" for s in first})
    sdk = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="client", max_retries=0)
    async with sdk:
        # 1. balance: least-busy (the default) over three endpoints, three clients at a time
        gate = asyncio.Semaphore(3)

        async def one() -> str:
            async with gate:
                return await served_by(sdk)

        who = Counter(await asyncio.gather(*(one() for _ in range(60))))
        balance = await totals(first)
        assert who == {"local": 60} and sum(balance) == 60 and min(balance) >= 10, (who, balance)

        # 2. one endpoint killed: ejected, no client error
        await first[1].kill()
        before = await totals([first[0], first[2]])
        after_kill = Counter([await served_by(sdk) for _ in range(20)])
        served = [b - a for a, b in zip(before, await totals([first[0], first[2]]), strict=True)]
        assert after_kill == {"local": 20} and sum(served) == 20
        state = {s.address: s.state for s in runtime.router.provider_health()[key].endpoint_states or ()}
        assert state[f"{first[1].ip}:8000"] == "ejected"

        async def column_shows_two_of_three() -> bool:  # NAME TYPE CIRCUIT ENDPOINTS ...
            table = await kube.run("get", "llmproviders", "-n", ns)
            return any(
                line.split()[:4] == ["local", "openai-compatible", "closed", "2/3"] for line in table.splitlines()
            )

        await eventually(column_shows_two_of_three, seconds=30)
        print("\n" + await kube.run("get", "llmproviders", "-n", ns))
        # Kubernetes notices the dead pod later and drops it from the slice
        follow: list[tuple[float, float]] = []
        await follow_change(kube, ns, [first[0], first[2]], members, follow)

        # 3. saturation: 2 live endpoints x maxInFlight 2; slow answers fill them and the rest spills
        for s in (first[0], first[2]):
            await s.control.set_faults(MODEL, latency_ms=2000)
        spill_started = time.monotonic()
        burst = await asyncio.gather(*(served_by(sdk) for _ in range(8)))
        spilled = Counter(burst)
        assert spilled == {"local": 4, "cloud": 4}, spilled
        async with aiohttp.ClientSession() as http, http.get(base_url + "/metrics") as resp:
            metrics = await resp.text()
        spills = f'switchboard_spillovers_total{{profile="{ns}/chat",provider="{ns}/local",reason="saturated"}} 4.0'
        assert spills in metrics
        for s in (first[0], first[2]):
            await s.control.clear_faults()
        assert await served_by(sdk) == "local"  # capacity is back: traffic returns to the first tier
        spill_s = time.monotonic() - spill_started

        # 4. scaling the EndpointSlice up and down, and an endpoint turning not-ready, is followed
        for wanted in ([first[0], first[2], spare], [first[0], first[2]], [first[0], first[2], spare]):
            await follow_change(kube, ns, wanted, members, follow)
        await follow_change(kube, ns, [first[0], first[2], spare], members, follow, not_ready=(spare.ip,))
        await follow_change(kube, ns, [first[0], first[2], spare], members, follow)
        before_spare = (await totals([spare]))[0]
        assert Counter([await served_by(sdk) for _ in range(9)]) == {"local": 9}
        assert (await totals([spare]))[0] > before_spare  # the new endpoint takes traffic
    print(
        f"endpoints: balance over 3 = {balance}; after a kill 20/20 served by {served}; "
        f"spill burst of 8 = {dict(spilled)} ({spill_s:.2f} s incl. 2 s answers); "
        f"slice change followed over {len(follow)} changes: from kubectl apply start p50 "
        f"{statistics.median(f[0] for f in follow) * 1000:.0f} ms, max {max(f[0] for f in follow) * 1000:.0f} ms; "
        f"after it returned max {max(f[1] for f in follow) * 1000:.0f} ms"
    )


async def follow_change(
    kube: KubeApply,
    ns: str,
    wanted: list[NetnsServer],
    members: Callable[[], set[str]],
    follow: list[tuple[float, float]],
    not_ready: tuple[str, ...] = (),
) -> None:
    """Apply the slice; record how long after ``kubectl apply`` started, and after it returned, the pool matched."""
    started = time.monotonic()
    await kube.apply(endpoint_slice(ns, wanted, not_ready))
    applied = time.monotonic()
    ready = {f"{s.ip}:8000" for s in wanted if s.ip not in not_ready}
    await eventually(lambda: members() == ready, poll=0.002)
    now = time.monotonic()
    follow.append((now - started, now - applied))
