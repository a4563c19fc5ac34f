"""``switchboard-proxy --kubernetes`` as a real process: the CLI hook, env options, proxy RBAC."""

import asyncio
import re
from typing import Any

import aiohttp
import pytest

from hack.checkout import checkout_env, python_module
from tests.fixtures.kubeproxy import KubeApply, rendered_config_text, rendered_configmap

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(120)]

_LISTENING = re.compile(rb"listening on (http://\S+)")


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
    env = checkout_env(
        {
            "SWITCHBOARD_KUBECONFIG": str(kube_cluster.proxy_kubeconfig),
            "SWITCHBOARD_WATCH_NAMESPACES": ns,
            "POD_NAMESPACE": kube_cluster.namespace,
            "POD_NAME": "proxy-cli",
        }
    )
    process = await asyncio.create_subprocess_exec(
        *python_module("switchboard.proxy.cli", "--kubernetes", "--host", "127.0.0.1", "--port", "0"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        match = _LISTENING.search(line)
        assert match is not None, f"switchboard-proxy did not start: {line!r}"
        base_url = match.group(1).decode()
        await _until_served(base_url, "cli-1")
        manifest = rendered_configmap(ns, "chat-rendered", rendered_config_text(ns, "chat", "p", ("cli-2",)), None)
        await kube.apply(manifest)
        await _until_served(base_url, "cli-2")
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()
