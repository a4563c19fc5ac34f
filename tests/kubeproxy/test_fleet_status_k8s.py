"""Fleet state in the cluster: two real proxy processes sharing a real redis-server against a real API server.

Spend shows fleet-wide in RoutingProfile status and the SPEND column, the budget's ``notify`` threshold
posts one Event, and the store going down and coming back posts a Warning and a Normal Event.
"""

import asyncio
from typing import Any

import aiohttp
import pytest

from tests.fixtures.kubeproxy import KubeApply, rendered_config_text, rendered_configmap
from tests.fixtures.proxy import start_proxy_cli, stop_process
from tests.fixtures.redis import RedisFactory
from tests.fixtures.upstream import MockControl

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(240), pytest.mark.usefixtures("switchboard_crds")]

BODY = {"model": "mock-model", "messages": [{"role": "user", "content": "hello"}]}  # 1 token in, 1 token out
PRICED = {"models": [{"name": "mock-model", "pricing": {"inputPerMillion": 1_000_000, "outputPerMillion": 2_000_000}}]}
BUDGET = {"period": "month", "limitUsd": 100, "softPercent": 10, "softAction": "notify"}  # $3 an answer


async def _objects(kube: KubeApply, ns: str, upstream: str) -> None:
    base = {"apiVersion": "switchboard.dev/v1alpha1"}
    spec = {"type": "openai-compatible", "baseUrl": upstream + "/v1", **PRICED}
    await kube.apply({**base, "kind": "LLMProvider", "metadata": {"name": "mock", "namespace": ns}, "spec": spec})
    profile = {"models": ["mock-model"], "providers": [{"name": "mock"}], "budget": BUDGET}
    await kube.apply({**base, "kind": "RoutingProfile", "metadata": {"name": "chat", "namespace": ns}, "spec": profile})
    text = rendered_config_text(
        ns,
        "chat",
        "mock",
        ("mock-model",),
        base_url=upstream + "/v1",
        provider_extra=PRICED,
        profile_extra={"budget": BUDGET},
    )
    await kube.apply(rendered_configmap(ns, "chat-rendered", text, None))


async def _until(probe: Any, what: str, timeout_s: float = 60) -> Any:
    try:
        async with asyncio.timeout(timeout_s):
            while not (found := await probe()):  # noqa: ASYNC110 - polling the API server
                await asyncio.sleep(0.2)
            return found
    except TimeoutError:
        raise AssertionError(f"never saw {what}") from None


async def _events(kube: KubeApply, ns: str, reason: str) -> list[dict[str, Any]]:
    listed = await kube.get_json("events", "-n", ns, "--field-selector", f"reason={reason}")
    return list(listed["items"])


async def _chat(http: aiohttp.ClientSession, base_url: str) -> int:
    async with http.post(base_url + "/v1/chat/completions", json=BODY) as r:
        await r.read()
        return r.status


async def test_spend_status_budget_and_store_events_across_two_proxy_processes(
    kube_cluster: Any,
    kube_namespace: str,
    kube: KubeApply,
    credentials_secret: str,
    redis_server: RedisFactory,
    mock_upstream: MockControl,
) -> None:
    ns, release = kube_namespace, kube_cluster.namespace
    store = await redis_server()
    await _objects(kube, ns, mock_upstream.base_url)
    proxies = []
    try:
        for name in ("proxy-a", "proxy-b"):
            env = {
                "SWITCHBOARD_KUBECONFIG": str(kube_cluster.proxy_kubeconfig),
                "SWITCHBOARD_WATCH_NAMESPACES": ns,
                "SWITCHBOARD_EGRESS_POLICY": '{"allowLoopback": true}',
                "SWITCHBOARD_STATUS_INTERVAL": "0.3",
                "POD_NAMESPACE": release,
                "POD_NAME": f"{name}-{ns}",
                "POD_UID": f"uid-{name}",
            }
            args = ("--kubernetes", "--state-store", store.url, "--state-store-timeout", "1")
            proxies.append(await start_proxy_cli(*args, env=env))
        urls = [url for _, url in proxies]
        answered = [0, 0]
        async with aiohttp.ClientSession() as http:

            async def served() -> bool:
                statuses = [await _chat(http, url) for url in urls]
                for i, status in enumerate(statuses):
                    answered[i] += status == 200
                return statuses == [200, 200]

            await _until(served, "both proxies serving the profile")
            for i in range(4):
                answered[i % 2] += await _chat(http, urls[i % 2]) == 200
        expected = 3.0 * sum(answered)  # $3 an answer, served by both replicas

        async def fleet_spend() -> dict[str, Any] | None:
            rp = await kube.get_json("routingprofiles", "chat", "-n", ns)
            budget = (rp.get("status") or {}).get("budget")
            return budget if budget and budget["spentUsd"] >= expected - 1e-6 else None

        budget = await _until(fleet_spend, "the fleet's spend in status")
        # Fleet-wide (both replicas' answers, read from the store), not one replica's share.
        assert min(answered) >= 3 and budget["spentUsd"] == pytest.approx(expected)
        percent = round(expected, 1)
        assert (budget["limitUsd"], budget["percent"], budget["state"], budget["shared"]) == (
            100,
            percent,
            "soft",
            True,
        )
        assert budget["window"].startswith("m") and budget["resetsAt"].endswith("T00:00:00Z")
        async with aiohttp.ClientSession() as http:

            async def fleet_spend_in_metrics() -> bool:
                # Each replica's gauge shows the fleet's spend (read at every status tick), not its own part.
                line = f'switchboard_budget_spent_usd{{budget="profile:{ns}/chat"}} {expected}'
                for url in urls:
                    async with http.get(url + "/metrics") as r:
                        if line not in await r.text():
                            return False
                return True

            await _until(fleet_spend_in_metrics, "the fleet's spend in both replicas' metrics")
        table = await kube.run("get", "rp", "chat", "-n", ns)
        header, row = table.splitlines()[:2]
        spend = f"${expected:.0f}/$100 ({expected:.0f}%)"  # whole dollars read without cents
        assert "SPEND" in header.split() and spend in row, table

        # notify: one Event for the whole fleet, though both replicas crossed the threshold.
        notified = await _until(lambda: _events(kube, ns, "BudgetThreshold"), "the budget's notify Event")
        await asyncio.sleep(1)  # a few more ticks: the other replica must not post it again
        notified = await _events(kube, ns, "BudgetThreshold")
        assert len(notified) == 1 and notified[0]["type"] == "Warning"
        assert notified[0]["involvedObject"]["kind"] == "RoutingProfile"
        assert "past its 10% threshold (notify)" in notified[0]["message"]

        await store.stop()

        async def down_events() -> list[dict[str, Any]]:
            found = await _events(kube, release, "StateStoreDown")
            return [e for e in found if e["involvedObject"]["name"].endswith(ns)]

        down = await _until(down_events, "StateStoreDown Events")
        assert {e["type"] for e in down} == {"Warning"} and "enforcing limits 1/N locally" in down[0]["message"]
        # On the replica's own Pod (its uid from the Downward API), so `kubectl describe pod` lists them.
        assert {e["involvedObject"]["uid"] for e in down} <= {"uid-proxy-a", "uid-proxy-b"}, down
        await store.start()

        async def up_events() -> list[dict[str, Any]]:
            found = await _events(kube, release, "StateStoreUp")
            return [e for e in found if e["involvedObject"]["name"].endswith(ns)]

        up = await _until(up_events, "StateStoreUp Events")
        assert {e["type"] for e in up} == {"Normal"}
        await asyncio.sleep(1)
        mine = await down_events()
        assert len(mine) <= 2, mine  # one per replica: the periodic reads of a dead store are one outage each
    finally:
        for process, _ in proxies:
            await stop_process(process)
