"""Namespaces as tenants on the real proxy, through the official openai SDK.

Two teams each run a profile ``default`` with a provider ``openai`` serving
``gpt-4o``, same names, different upstreams. The conflict rule (oldest
creationTimestamp, then namespace/name) picks one for anonymous callers; with
client auth, each team's key resolves the model among its own profiles first.
"""

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest

from switchboard.api.config import ProxyConfig
from switchboard.api.profile import ProfileConfig, ProviderRef
from switchboard.mock.harness import MockControl
from switchboard.proxy.app import AppOptions
from switchboard.proxy.auth import KeyFileSource
from tests.fixtures.proxy import ProxyFactory, ProxyServer, provider_config
from tests.fixtures.upstream import MockFactory

MESSAGES: Any = [{"role": "user", "content": "hello"}]
T0 = datetime(2026, 1, 1, tzinfo=UTC)
KEY_A = "sk-team-a-0123456789abcdef"
KEY_B = "sk-team-b-0123456789abcdef"
KEY_C = "sk-team-c-0123456789abcdef"


def two_teams(url_a: str, url_b: str, *, a_created: datetime, b_created: datetime) -> ProxyConfig:
    """Same provider and profile names in team-a and team-b; only upstreams and ages differ."""
    providers, profiles = [], []
    for namespace, url, created in (("team-a", url_a, a_created), ("team-b", url_b, b_created)):
        provider = provider_config("openai", "openai", url, models=("gpt-4o",))
        providers.append(provider.model_copy(update={"namespace": namespace}))
        profiles.append(
            ProfileConfig(
                name="default",
                namespace=namespace,
                creation_timestamp=created,
                models=("gpt-4o",),
                providers=(ProviderRef(name="openai"),),
                allow_client_routing=True,
            )
        )
    return ProxyConfig(providers=tuple(providers), profiles=tuple(profiles))


async def served_by(proxy: ProxyServer, key: str = "unused", **headers: str) -> str:
    async with openai.AsyncOpenAI(base_url=proxy.openai_base_url, api_key=key, max_retries=0) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=MESSAGES, extra_headers=headers or None
        )
    assert raw.parse().choices[0].message.content == "hello"
    return raw.headers["x-switchboard-profile"]


async def counts(*mocks: MockControl) -> list[int]:
    return [len(await m.requests("gpt-4o")) for m in mocks]


async def test_same_named_profiles_in_two_namespaces_follow_the_conflict_rule(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory
) -> None:
    mock_a, mock_b = await mock_upstream_factory(), await mock_upstream_factory()
    # team-b's profile is older, although team-a sorts first by name and is listed first
    config = two_teams(mock_a.base_url, mock_b.base_url, a_created=T0 + timedelta(hours=1), b_created=T0)
    proxy = await proxy_server(config)
    assert [await served_by(proxy) for _ in range(3)] == ["team-b/default"] * 3
    assert await counts(mock_a, mock_b) == [0, 3]
    explained = await explain(proxy, "unused")
    assert explained["profile"] == "team-b/default"
    assert explained["passed_over"] == {
        "team-a/default": "shadowed: team-b/default is older "
        "(created 2026-01-01T00:00:00Z, this profile 2026-01-01T01:00:00Z)"
    }
    # a header names either profile by namespace/name; the bare name is ambiguous and refused
    assert await served_by(proxy, **{"X-Routing-Profile": "team-a/default"}) == "team-a/default"
    assert await counts(mock_a, mock_b) == [1, 3]
    async with openai.AsyncOpenAI(base_url=proxy.openai_base_url, api_key="x", max_retries=0) as client:
        with pytest.raises(openai.NotFoundError) as unknown:
            await client.chat.completions.create(
                model="gpt-4o", messages=MESSAGES, extra_headers={"X-Routing-Profile": "default"}
            )
        listed = [m.id for m in (await client.models.list()).data]
    assert "team-a/default, team-b/default" in unknown.value.message
    assert listed.count("gpt-4o") == 1
    # equal ages: namespace/name decides, whatever order the config lists them in
    proxy.write_config(two_teams(mock_b.base_url, mock_a.base_url, a_created=T0, b_created=T0))
    await proxy.wait_for_version(2)
    assert await served_by(proxy) == "team-a/default"
    assert await counts(mock_a, mock_b) == [1, 4]  # team-a now points at mock_b
    reasons = (await explain(proxy, "unused"))["passed_over"]
    assert reasons == {"team-b/default": "shadowed: team-a/default is as old and sorts first by namespace/name"}


def keys_file(path: Path) -> Path:
    entries = (("team-a", KEY_A, "team-a/*"), ("team-b", KEY_B, "team-b/*"), ("team-c", KEY_C, "team-c/*"))
    lines = ["keys:"]
    for name, key, pattern in entries:
        digest = hashlib.sha256(key.encode()).hexdigest()
        lines += [f"  - name: {name}", f"    sha256: {digest}", f"    profiles: [{pattern!r}]"]
    path.write_text("\n".join(lines) + "\n")
    return path


async def explain(proxy: ProxyServer, key: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            proxy.base_url + "/v1/routing/explain", json={"model": "gpt-4o", "messages": MESSAGES}, headers=headers
        ) as resp,
    ):
        assert resp.status == 200, await resp.text()
        body: dict[str, Any] = await resp.json()
        return body


async def test_each_key_resolves_the_model_within_its_own_grants(
    tmp_path: Path, mock_upstream_factory: MockFactory, proxy_server: ProxyFactory
) -> None:
    mock_a, mock_b = await mock_upstream_factory(), await mock_upstream_factory()
    config = two_teams(mock_a.base_url, mock_b.base_url, a_created=T0, b_created=T0 + timedelta(days=30))
    keys = KeyFileSource(keys_file(tmp_path / "keys.yaml")).current
    proxy = await proxy_server(config, options=AppOptions(api_keys=keys))
    # team-a's profile is older and wins for everyone who may use it; team-b still gets its own
    assert await served_by(proxy, KEY_B) == "team-b/default"
    assert await served_by(proxy, KEY_A) == "team-a/default"
    assert await served_by(proxy, KEY_B) == "team-b/default"
    assert await counts(mock_a, mock_b) == [1, 2]
    explained_b, explained_a = await explain(proxy, KEY_B), await explain(proxy, KEY_A)
    assert explained_b["profile"] == "team-b/default"
    assert explained_b["passed_over"] == {"team-a/default": "not granted to this API key"}
    assert explained_a["profile"] == "team-a/default"
    assert explained_a["passed_over"] == {"team-b/default": "not granted to this API key"}
    # a key that may use neither is refused, never routed to someone else's profile
    async with openai.AsyncOpenAI(base_url=proxy.openai_base_url, api_key=KEY_C, max_retries=0) as client:
        with pytest.raises(openai.PermissionDeniedError) as denied:
            await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert denied.value.code == "profile_not_allowed"
    # naming another team's profile in a header does not get around the grants
    async with openai.AsyncOpenAI(base_url=proxy.openai_base_url, api_key=KEY_B, max_retries=0) as client:
        with pytest.raises(openai.PermissionDeniedError):
            await client.chat.completions.create(
                model="gpt-4o", messages=MESSAGES, extra_headers={"X-Routing-Profile": "team-a/default"}
            )
    assert await counts(mock_a, mock_b) == [1, 2]
