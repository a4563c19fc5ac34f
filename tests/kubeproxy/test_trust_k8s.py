"""Issue 18, critical: a tenant cannot redirect another namespace's traffic with a forged
rendered ConfigMap. Real API server, proxy under the chart's RBAC, the tenant a restricted
ServiceAccount, the openai SDK as client, two mock upstreams (the victim's and the attacker's)."""

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import openai
import pytest

from switchboard.api.egress import EgressAllow, EgressPolicy
from switchboard.proxy.kube import ClusterSettings
from tests.fixtures.kubeproxy import KubeApply, rendered_config_text, rendered_configmap, rendered_name, secret_manifest
from tests.fixtures.tenants import Tenant

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(180), pytest.mark.usefixtures("switchboard_crds")]

MODEL = "victim-model"
VICTIM_KEY = "sk-victim-secret-key"
MESSAGES: Any = [{"role": "user", "content": "hi"}]


async def _chat(base_url: str) -> str:
    async with openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="client", max_retries=0) as sdk:
        reply = await sdk.chat.completions.create(model=MODEL, messages=MESSAGES)
    return reply.choices[0].message.content or ""


async def _until(check: Callable[[], Awaitable[bool]], seconds: float = 30.0) -> None:
    async with asyncio.timeout(seconds):
        while not await check():  # noqa: ASYNC110 - polling an external system
            await asyncio.sleep(0.05)


async def test_forged_rendered_configmaps_never_change_what_another_namespace_gets(
    kube_cluster: Any,
    kube_namespace: str,
    kube: KubeApply,
    credentials_secret: str,
    mock_upstream_factory: Any,
    cluster_proxy: Callable[[ClusterSettings], Awaitable[str]],
    make_tenant: Callable[[str], Tenant],
    caplog: Any,
) -> None:
    victim_ns, release = kube_namespace, kube_cluster.namespace
    attacker_ns = f"team-x-{uuid.uuid4().hex[:6]}"
    kube_cluster.kubectl("create", "namespace", attacker_ns)
    caplog.set_level(logging.INFO, logger="switchboard.proxy.kube")
    try:
        tenant = make_tenant(attacker_ns)
        victim = await mock_upstream_factory(api_key=VICTIM_KEY)
        attacker = await mock_upstream_factory()
        # The victim's provider, as the operator renders it, with its key in the credentials Secret.
        key = f"{victim_ns}.openai-mock"
        await kube.apply(secret_manifest(release, {key: VICTIM_KEY}))
        legit = rendered_config_text(victim_ns, "chat", "openai-mock", (MODEL,), key, victim.base_url + "/v1")
        await kube.apply(rendered_configmap(victim_ns, "chat", legit, None))
        # All namespaces (the widest a proxy can be configured); the strict egress policy, with the
        # victim's namespace allowed its loopback upstream the way a platform team allow-lists a range.
        egress = EgressPolicy(allow=(EgressAllow(namespace=victim_ns, cidrs=("127.0.0.0/8",)),))
        settings = ClusterSettings(
            kubeconfig=str(kube_cluster.proxy_kubeconfig), own_namespace=release, replica="proxy-trust", egress=egress
        )
        base_url = await cluster_proxy(settings)

        async def served() -> bool:
            try:
                return bool(await _chat(base_url))
            except openai.APIError:
                return False

        await _until(served)

        # 1. The attack of the audit: the tenant writes a "rendered" ConfigMap in its own namespace
        #    redefining default's provider with its listener and the victim's key entry.
        forged = rendered_config_text(victim_ns, "chat", "openai-mock", (MODEL,), key, attacker.base_url + "/v1")
        planted = rendered_configmap(victim_ns, "chat", forged, None, config_namespace=attacker_ns)
        planted["metadata"]["name"] = "switchboard-chat"
        tenant.kubectl("apply", "-f", "-", input=json.dumps(planted))
        # 2. It cannot write where the proxies read (the release namespace).
        into_release = rendered_configmap(attacker_ns, "chat", forged, None)
        done = tenant.kubectl("apply", "-f", "-", input=json.dumps(into_release), check=False)
        assert done.returncode != 0 and "forbidden" in done.stderr.lower(), done.stderr
        # 3. Defence in depth: a ConfigMap in the release namespace (as only an admin or a buggy
        #    operator could write it) that claims the attacker's namespace but reaches into the
        #    victim's provider and key is refused: Warning Event + ERROR log naming it.
        reaching = rendered_config_text(attacker_ns, "chat", "thief", (MODEL + "-x",), key, attacker.base_url + "/v1")
        await kube.apply(rendered_configmap(attacker_ns, "chat", reaching, None))
        cm = rendered_name(attacker_ns, "chat")

        async def refused() -> bool:
            events = await kube.get_json("events", "-n", release, "--field-selector", f"involvedObject.name={cm}")
            return any(e["reason"] == "UntrustedConfig" and e["type"] == "Warning" for e in events["items"])

        await _until(refused)
        # 4. Egress: the attacker's own provider with its own key, aimed at its loopback listener by
        #    name (the allow-list is the victim's, not its): refused as well, with an Event.
        own_key = f"{attacker_ns}.mine"
        aimed = rendered_config_text(
            attacker_ns, "aim", "mine", (MODEL + "-y",), own_key, attacker.base_url.replace("127.0.0.1", "localhost")
        )
        await kube.apply(rendered_configmap(attacker_ns, "aim", aimed, None))
        aim_cm = rendered_name(attacker_ns, "aim")

        async def egress_refused() -> bool:
            events = await kube.get_json("events", "-n", release, "--field-selector", f"involvedObject.name={aim_cm}")
            return any(e["reason"] == "EgressDenied" and "loopback" in e["message"] for e in events["items"])

        await _until(egress_refused)
        for _ in range(20):  # every request still reaches the victim's own upstream, with its key
            assert await _chat(base_url)
        assert await attacker.requests() == []
        assert len(await victim.requests()) >= 20
        with pytest.raises(openai.NotFoundError):  # nothing of the refused ConfigMap is served
            async with openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="c", max_retries=0) as sdk:
                await sdk.chat.completions.create(model=MODEL + "-x", messages=MESSAGES)
    finally:
        kube_cluster.kubectl("delete", "namespace", attacker_ns, "--wait=false", check=False)
        kube_cluster.kubectl("delete", "configmap", "-n", release, "-l", f"switchboard.dev/namespace={attacker_ns}")
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and f"ConfigMap {release}/{cm}" in r.message]
    assert errors and "refused untrusted" in errors[0].message
    assert "may use only its own key" in errors[0].message
    assert VICTIM_KEY not in caplog.text
