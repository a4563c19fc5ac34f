"""``switchboard-proxy --kubernetes`` as a real process: the CLI hook, env options, proxy RBAC."""

import asyncio
from typing import Any

import aiohttp
import pytest

from tests.fixtures.kubeproxy import KubeApply, rendered_config_text, rendered_configmap
from tests.fixtures.proxy import start_proxy_cli, stop_process

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(120)]


async def _served_models(base_url: str) -> list[str]:
    try:
        async with aiohttp.ClientSession() as s, s.get(base_url + "/readyz") as r:
            return list((await r.json()).get("models", [])) if r.status == 200 else []
    except aiohttp.ClientError:
        return []


async def _until_served(base_url: str, model: str) -> None:
    async with asyncio.timeout(30):
        while model not in await _served_models(base_url):  # noqa: ASYNC110 - polling another process
            await asyncio.sleep(0.05)


async def test_cli_kubernetes_flag_serves_rendered_configmaps(
    kube_cluster: Any, kube_namespace: str, kube: KubeApply, credentials_secret: str
) -> None:
    ns = kube_namespace
    manifest = rendered_configmap(ns, "chat-rendered", rendered_config_text(ns, "chat", "p", ("cli-1",)), None)
    await kube.apply(manifest)
    env = {
        "SWITCHBOARD_KUBECONFIG": str(kube_cluster.proxy_kubeconfig),
        "SWITCHBOARD_WATCH_NAMESPACES": ns,
        "SWITCHBOARD_EGRESS_POLICY": '{"allowLoopback": true}',  # the fixture's upstream URL is loopback
        "POD_NAMESPACE": kube_cluster.namespace,
        "POD_NAME": "proxy-cli",
    }
    process, base_url = await start_proxy_cli("--kubernetes", env=env)
    try:
        await _until_served(base_url, "cli-1")
        manifest = rendered_configmap(ns, "chat-rendered", rendered_config_text(ns, "chat", "p", ("cli-2",)), None)
        await kube.apply(manifest)
        await _until_served(base_url, "cli-2")
    finally:
        await stop_process(process)
