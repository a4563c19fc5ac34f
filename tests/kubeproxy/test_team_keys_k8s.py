"""Issue 17: client keys that belong to a namespace, end to end on the local control plane.

Real parts: the API server (Secrets, CRDs, RBAC, Events), the operator as a subprocess
under the chart's operator RBAC, the proxy app in cluster mode under the chart's proxy
RBAC, one mock upstream per team, the official openai SDK as the client. Each team acts
as a restricted ServiceAccount of its own namespace that may manage Secrets there (and
read its Events), nothing else: the only way it issues, rotates and revokes keys.
"""

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest

from switchboard.api.clientkeys import CLIENT_KEY_LABEL, PROFILES_ANNOTATION, RATE_LIMIT_ANNOTATION
from switchboard.proxy.app import AppOptions
from switchboard.proxy.auth import KeyFileSource
from switchboard.proxy.kube import ClusterSettings
from tests.fixtures.kubeproxy import LOOPBACK_EGRESS
from tests.fixtures.tenants import TENANT, Tenant

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(300), pytest.mark.usefixtures("switchboard_crds")]

MESSAGES: Any = [{"role": "user", "content": "hello"}]
ADMIN_KEY = "sk-platform-admin-0123456789"


def team_resources(ns: str, upstream: str) -> list[dict[str, Any]]:
    provider = {"type": "openai-compatible", "baseUrl": upstream + "/v1", "models": [{"name": "gpt-4o"}]}
    profile = {"models": ["gpt-4o"], "providers": [{"name": "openai"}]}
    return [
        {
            "apiVersion": "switchboard.dev/v1alpha1",
            "kind": kind,
            "metadata": {"name": name, "namespace": ns},
            "spec": spec,
        }
        for kind, name, spec in (("LLMProvider", "openai", provider), ("RoutingProfile", "default", profile))
    ]


def key_secret(ns: str, name: str, profiles: str, *, key: str | None = None, digest: str | None = None,
               annotations: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    data = {"key": key} if key is not None else {"sha256": digest}
    meta = {
        "name": name,
        "namespace": ns,
        "labels": {CLIENT_KEY_LABEL: "true"},
        "annotations": {PROFILES_ANNOTATION: profiles, **(annotations or {})},
    }
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": data}


def key_issuer(cluster: Any, tenant: Tenant) -> Tenant:
    """Let the team's ServiceAccount manage Secrets in its own namespace (and nothing more)."""
    rule = {
        "apiGroups": [""],
        "resources": ["secrets"],
        "verbs": ["get", "list", "create", "update", "patch", "delete"],
    }
    meta = {"name": "key-issuer", "namespace": tenant.namespace}
    subject = {"kind": "ServiceAccount", "name": TENANT, "namespace": tenant.namespace}
    rbac = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta, "rules": [rule]},
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": meta,
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "key-issuer"},
                "subjects": [subject],
            },
        ],
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(rbac))
    assert tenant.can("create", "secrets", "-n", tenant.namespace)
    return tenant


async def as_tenant(tenant: Tenant, *args: str, input: str | None = None) -> str:
    done = await asyncio.to_thread(tenant.kubectl, *args, input=input)
    return str(done.stdout)


async def issue(tenant: Tenant, manifest: dict[str, Any]) -> float:
    """Apply as the team; returns when kubectl returned (time.monotonic())."""
    await as_tenant(tenant, "apply", "-f", "-", input=json.dumps(manifest))
    return time.monotonic()


async def answer(base_url: str, key: str) -> tuple[int, str]:
    """(status, serving profile) of one chat completion for gpt-4o with ``key``."""
    async with openai.AsyncOpenAI(base_url=base_url + "/v1", api_key=key, max_retries=0) as sdk:
        try:
            raw = await sdk.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
        except openai.APIStatusError as e:
            return e.status_code, ""
    assert raw.parse().choices[0].message.content == "hello"
    return 200, raw.headers["x-switchboard-profile"]


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 60.0) -> float:
    """Poll ``check`` until true; returns when it first was (time.monotonic())."""
    async with asyncio.timeout(seconds):
        while not await check():  # noqa: ASYNC110 - polling an external system
            await asyncio.sleep(0.02)
    return time.monotonic()


async def events_of(tenant: Tenant, secret: str) -> list[tuple[str, str, str]]:
    text = await as_tenant(
        tenant,
        "get",
        "events",
        "-n",
        tenant.namespace,
        "--field-selector",
        f"involvedObject.name={secret}",
        "-o",
        "json",
    )
    return [(e["type"], e["reason"], e["message"]) for e in json.loads(text)["items"]]


async def test_teams_issue_rotate_and_revoke_keys_for_their_own_profiles_only(
    kube_cluster: Any,
    credentials_secret: str,
    mock_upstream_factory: Any,
    start_operator: Any,
    cluster_proxy: Callable[..., Awaitable[str]],
    make_tenant: Callable[[str], Tenant],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="switchboard.proxy.access")
    suffix = uuid.uuid4().hex[:6]
    ns_a, ns_b = f"team-a-{suffix}", f"team-b-{suffix}"
    for ns in (ns_a, ns_b):
        kube_cluster.kubectl("create", "namespace", ns)
    try:
        await _scenario(kube_cluster, ns_a, ns_b, mock_upstream_factory, start_operator, cluster_proxy, make_tenant,
                        tmp_path, caplog)  # fmt: skip
    finally:
        for ns in (ns_a, ns_b):
            kube_cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)
            selector = f"switchboard.dev/namespace={ns}"
            kube_cluster.kubectl("delete", "configmaps", "-n", kube_cluster.namespace, "-l", selector, check=False)


async def _scenario(
    cluster: Any,
    ns_a: str,
    ns_b: str,
    mock_upstream_factory: Any,
    start_operator: Any,
    cluster_proxy: Callable[..., Awaitable[str]],
    make_tenant: Callable[[str], Tenant],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mock_a, mock_b = await mock_upstream_factory(), await mock_upstream_factory()
    team_a, team_b = key_issuer(cluster, make_tenant(ns_a)), key_issuer(cluster, make_tenant(ns_b))
    # Team A's profile is the older one: without grants it would win gpt-4o for everyone.
    for obj in team_resources(ns_a, mock_a.base_url):
        await as_tenant(team_a, "apply", "-f", "-", input=json.dumps(obj))
    await asyncio.sleep(1.1)  # creationTimestamp has a one-second resolution
    for obj in team_resources(ns_b, mock_b.base_url):
        await as_tenant(team_b, "apply", "-f", "-", input=json.dumps(obj))
    # The platform admins' keys file keeps working next to the teams' keys.
    admin_file = tmp_path / "keys.yaml"
    admin_file.write_text(f"keys:\n  - name: platform\n    key: {ADMIN_KEY}\n    profiles: ['*']\n")
    start_operator(ns_a, "op-1", "--namespace", ns_b)
    settings = ClusterSettings(
        kubeconfig=str(cluster.proxy_kubeconfig),
        own_namespace=cluster.namespace,
        replica="keys-1",
        egress=LOOPBACK_EGRESS,
    )
    base_url = await cluster_proxy(settings, AppOptions(api_keys=KeyFileSource(admin_file).current))
    # The chart's RBAC: the operator watches the labelled Secrets; the proxy reads no tenant Secret (keys
    # reach it as digests in the one credentials Secret), and no team reads that one.
    for ns in (ns_a, ns_b):
        for who, verb, allowed in (("operator", "list", "yes"), ("operator", "watch", "yes"), ("proxy", "list", "no")):
            done = cluster.kubectl("auth", "can-i", verb, "secrets", "-n", ns, as_=who, check=False)
            assert done.stdout.strip() == allowed, (who, verb, ns)
    assert not team_a.can("get", "secret/switchboard-credentials", "-n", cluster.namespace)

    async def admin_served() -> bool:
        return await answer(base_url, ADMIN_KEY) == (200, f"{ns_a}/default")

    await until(admin_served)

    # 1. Each team issues a key for its own profile: A by the key itself, B by its digest only.
    key_a, key_b = f"sk-a-{uuid.uuid4().hex}", f"sk-b-{uuid.uuid4().hex}"
    await issue(team_a, key_secret(ns_a, "ci", "default", key=key_a))
    digest_b = hashlib.sha256(key_b.encode()).hexdigest()
    await issue(team_b, key_secret(ns_b, "app", "*", digest=digest_b))

    async def both_served() -> bool:
        return await answer(base_url, key_a) == (200, f"{ns_a}/default") and await answer(base_url, key_b) == (
            200,
            f"{ns_b}/default",
        )

    await until(both_served)
    assert len(await mock_a.requests("gpt-4o")) >= 2 and len(await mock_b.requests("gpt-4o")) >= 1
    assert ("Normal", "ClientKeyAccepted") in {(t, r) for t, r, _ in await events_of(team_a, "ci")}
    delivered = await _credentials(cluster)
    assert key_a not in delivered and hashlib.sha256(key_a.encode()).hexdigest() in delivered  # digests only

    # Attribution: the key's name and namespace (never the key) in the access log and the metrics.
    lines = [r.getMessage() for r in caplog.records if r.name == "switchboard.proxy.access"]
    assert any(f"client={ns_b}/app client_namespace={ns_b}" in line for line in lines)
    assert not any(key_a in line or key_b in line for line in lines)
    async with aiohttp.ClientSession() as http, http.get(base_url + "/metrics") as reply:
        metrics = await reply.text()
    assert f'switchboard_client_requests_total{{client="{ns_a}/ci",client_namespace="{ns_a}",status_class="2xx"}}' in (
        metrics
    )
    assert 'client="platform",client_namespace="-"' in metrics

    # 2. Rotation by the team: the new key works and the old one stops, as soon as the proxies see it.
    rotated = f"sk-a-{uuid.uuid4().hex}"
    applied = await issue(team_a, key_secret(ns_a, "ci", "default", key=rotated))

    async def rotated_in() -> bool:
        return (await answer(base_url, rotated))[0] == 200 and (await answer(base_url, key_a))[0] == 401

    print(f"rotation took effect {await until(rotated_in) - applied:.3f}s after kubectl apply returned")

    # 3. Revocation: deleting the Secret.
    await as_tenant(team_a, "delete", "secret", "ci", "-n", ns_a)
    deleted = time.monotonic()

    async def revoked() -> bool:
        return (await answer(base_url, rotated))[0] == 401

    print(f"deletion took effect {await until(revoked) - deleted:.3f}s after kubectl delete returned")

    # 4. Team B cannot grant itself team A's profile: refused whole (never narrowed to what is
    #    allowed, never widened), with a Warning Event team B can read; the key opens nothing.
    greedy = f"sk-b-{uuid.uuid4().hex}"
    await issue(team_b, key_secret(ns_b, "greedy", f"default, {ns_a}/default", key=greedy))

    async def refused() -> bool:
        return any(r == "ProfileNotInNamespace" for _, r, _ in await events_of(team_b, "greedy"))

    await until(refused)
    assert await answer(base_url, greedy) == (401, "")
    # ... and a Secret in A's namespace is out of B's reach altogether.
    done = team_b.kubectl(
        "apply", "-f", "-", input=json.dumps(key_secret(ns_a, "planted", "default", key=greedy)), check=False
    )
    assert done.returncode != 0 and "forbidden" in done.stderr.lower()

    # 5. A key's own rate limit (issue 12's per-key limits) holds for a team key too.
    limited = f"sk-b-{uuid.uuid4().hex}"
    await issue(team_b, key_secret(ns_b, "limited", "default", key=limited,
                                   annotations={RATE_LIMIT_ANNOTATION: "{requestsPerMinute: 1}"}))  # fmt: skip

    async def limited_in() -> bool:
        return (await answer(base_url, limited))[0] == 200

    await until(limited_in)
    assert (await answer(base_url, limited))[0] == 429


async def _credentials(cluster: Any) -> str:
    """The credentials Secret's client-key documents, decoded (what the proxies get)."""
    import base64

    done = await asyncio.to_thread(
        cluster.kubectl, "get", "secret", "switchboard-credentials", "-n", cluster.namespace, "-o", "json"
    )
    data = json.loads(done.stdout).get("data") or {}
    return "\n".join(base64.b64decode(v).decode() for k, v in data.items() if k.startswith("client-keys_"))
