"""Client API keys on the real proxy, through the official openai SDK (``--api-keys-file``)."""

import hashlib
import logging
import os
import subprocess
from pathlib import Path

import aiohttp
import openai
import pytest

from hack.checkout import checkout_env, python_module
from switchboard.api.config import ProxyConfig
from switchboard.api.profile import ProfileConfig, ProviderRef
from switchboard.api.provider import ProviderConfig
from switchboard.proxy.app import AppOptions
from switchboard.proxy.auth import API_KEYS_FILE_ENV, KeyFileSource
from tests.fixtures.proxy import ProxyFactory, ProxyServer, provider_config
from tests.fixtures.upstream import MockFactory

CHAT_KEY = "sk-chat-team-0123456789abcdef"
EMBED_KEY = "sk-embed-team-0123456789abcdef"
ROTATED_KEY = "sk-rotated-in-0123456789abcdef"
MESSAGES = [{"role": "user", "content": "hello"}]


def keys_yaml(*entries: tuple[str, str, str]) -> str:
    """Entries of (name, key, profile pattern); the chat key is stored as a digest, the rest in plaintext."""
    lines = ["keys:"]
    for name, key, profile in entries:
        secret = f"sha256: {hashlib.sha256(key.encode()).hexdigest()}" if key == CHAT_KEY else f"key: {key}"
        lines += [f"  - name: {name}", f"    {secret}", f"    profiles: [{profile!r}]"]
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """What a Secret volume update does: a new file swapped in."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def two_profiles(mock_url: str) -> ProxyConfig:
    """``chat`` serves chat-model, ``embed`` serves embed-model, both on the same mock provider."""
    provider = provider_config("mock", "openai", mock_url, models=("chat-model", "embed-model"))
    ref = (ProviderRef(name="mock"),)
    return ProxyConfig(
        providers=(provider,),
        profiles=(
            ProfileConfig(name="chat", models=("chat-model",), providers=ref),
            ProfileConfig(name="embed", models=("embed-model",), providers=ref),
        ),
    )


@pytest.fixture
async def secured(
    tmp_path: Path, mock_upstream_factory: MockFactory, proxy_server: ProxyFactory
) -> tuple[ProxyServer, Path]:
    mock = await mock_upstream_factory()
    keys = tmp_path / "keys.yaml"
    keys.write_text(keys_yaml(("chat-team", CHAT_KEY, "chat"), ("embed-team", EMBED_KEY, "embed")))
    proxy = await proxy_server(two_profiles(mock.base_url), options=AppOptions(api_keys=KeyFileSource(keys).current))
    return proxy, keys


def client(proxy: ProxyServer, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=proxy.openai_base_url, api_key=key, max_retries=0)


async def test_keys_decide_who_gets_which_profile(
    secured: tuple[ProxyServer, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    proxy, _ = secured
    async with client(proxy, CHAT_KEY) as chat_team:
        answer = await chat_team.chat.completions.create(model="chat-model", messages=MESSAGES)  # type: ignore[arg-type]
        assert answer.choices[0].message.content == "hello"
        with pytest.raises(openai.PermissionDeniedError) as denied:
            await chat_team.embeddings.create(model="embed-model", input="x")
    assert denied.value.status_code == 403
    assert denied.value.code == "profile_not_allowed"
    assert "'chat-team'" in denied.value.message and "'embed'" in denied.value.message
    async with client(proxy, EMBED_KEY) as embed_team:
        assert len((await embed_team.embeddings.create(model="embed-model", input="x")).data) == 1
    async with client(proxy, "sk-nobody-0123456789abcdef") as stranger:
        with pytest.raises(openai.AuthenticationError) as wrong:
            await stranger.chat.completions.create(model="chat-model", messages=MESSAGES)  # type: ignore[arg-type]
    assert wrong.value.code == "invalid_api_key"
    async with aiohttp.ClientSession() as http:
        async with http.post(proxy.openai_base_url + "/chat/completions", json={"model": "chat-model"}) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["code"] == "missing_api_key"
        async with http.get(proxy.base_url + "/metrics") as resp:  # probes and scrapes stay open
            metrics = await resp.text()
    assert 'status="401"' in metrics and 'status="403"' in metrics
    for key in (CHAT_KEY, EMBED_KEY, "sk-nobody-0123456789abcdef"):
        assert key not in caplog.text
        assert key not in metrics


async def test_an_edited_keys_file_applies_without_restart(secured: tuple[ProxyServer, Path]) -> None:
    proxy, keys = secured
    write_atomically(keys, keys_yaml(("rotated", ROTATED_KEY, "*")))
    async with client(proxy, ROTATED_KEY) as rotated, client(proxy, CHAT_KEY) as revoked:
        await rotated.chat.completions.create(model="chat-model", messages=MESSAGES)  # type: ignore[arg-type]
        assert len((await rotated.embeddings.create(model="embed-model", input="x")).data) == 1
        with pytest.raises(openai.AuthenticationError):
            await revoked.chat.completions.create(model="chat-model", messages=MESSAGES)  # type: ignore[arg-type]
        write_atomically(keys, "keys: [")  # a broken edit keeps the last good keys
        await rotated.chat.completions.create(model="chat-model", messages=MESSAGES)  # type: ignore[arg-type]


async def test_without_a_keys_file_there_is_no_client_auth(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory
) -> None:
    mock = await mock_upstream_factory()
    proxy = await proxy_server(two_profiles(mock.base_url))
    async with aiohttp.ClientSession() as http:
        body = {"model": "chat-model", "messages": MESSAGES}
        async with http.post(proxy.openai_base_url + "/chat/completions", json=body) as resp:
            assert resp.status == 200


async def test_the_cli_reads_the_keys_file_from_the_helm_environment_variable(
    tmp_path: Path, mock_upstream_factory: MockFactory, proxy_process: ProxyFactory
) -> None:
    mock = await mock_upstream_factory()
    keys = tmp_path / "keys.yaml"
    keys.write_text(keys_yaml(("chat-team", CHAT_KEY, "chat")))
    proxy = await proxy_process(two_profiles(mock.base_url), env={API_KEYS_FILE_ENV: str(keys)})
    async with client(proxy, CHAT_KEY) as chat_team, client(proxy, EMBED_KEY) as stranger:
        await chat_team.chat.completions.create(model="chat-model", messages=MESSAGES)  # type: ignore[arg-type]
        with pytest.raises(openai.AuthenticationError):
            await stranger.chat.completions.create(model="chat-model", messages=MESSAGES)  # type: ignore[arg-type]


def test_the_cli_refuses_an_invalid_keys_file_without_echoing_keys(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text("keys:\n  - name: short\n    key: sk-short\n    profiles: ['*']\n")
    config = tmp_path / "proxy.yaml"
    config.write_text("apiVersion: switchboard.dev/v1alpha1\nkind: ProxyConfig\nproviders: []\nprofiles: []\n")
    args = ["--config", str(config), "--port", "0", "--api-keys-file", str(keys)]
    result = subprocess.run(
        python_module("switchboard.proxy.cli", *args),
        capture_output=True,
        text=True,
        env=checkout_env(),
        timeout=60,
    )
    assert result.returncode == 2
    assert "keys[0].key" in result.stderr
    assert "sk-short" not in result.stderr + result.stdout


async def test_model_and_routing_endpoints_respect_the_keys_grants(secured: tuple[ProxyServer, Path]) -> None:
    proxy, _ = secured
    chat = client(proxy, CHAT_KEY)
    assert [m.id async for m in chat.models.list()] == ["chat-model"]
    assert (await chat.models.retrieve("chat-model")).id == "chat-model"
    with pytest.raises(openai.NotFoundError):
        await chat.models.retrieve("embed-model")  # served, but not to this key
    await chat.chat.completions.create(model="chat-model", messages=[{"role": "user", "content": "hi"}])
    headers = {"Authorization": f"Bearer {CHAT_KEY}"}
    embed_body = {"model": "embed-model", "input": "hi"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for path in ("/v1/routing/explain", "/v1/routing/estimate-cost"):
            async with session.post(proxy.base_url + path, json=embed_body) as response:
                assert response.status == 403, path
                assert (await response.json())["error"]["code"] == "profile_not_allowed"
            async with session.post(proxy.base_url + path, json={"model": "chat-model", "messages": []}) as response:
                assert response.status == 200, path
        async with session.get(proxy.base_url + "/v1/routing/latency") as response:
            assert {row["provider"] for row in (await response.json())["data"]} == {"mock"}  # chat's provider


async def test_latency_rows_stay_within_the_keys_grants(
    tmp_path: Path, mock_upstream_factory: MockFactory, proxy_server: ProxyFactory
) -> None:
    """A key of team-a/chat sees the latency of its own (provider, model) pairs only: not another namespace's
    providers, and not the models another profile of its namespace sends through a shared provider."""
    mock = await mock_upstream_factory()

    def provider(namespace: str, name: str, *models: str) -> ProviderConfig:
        return provider_config(name, "openai", mock.base_url, models=models).model_copy(update={"namespace": namespace})

    def profile(namespace: str, name: str, model: str, *providers: str) -> ProfileConfig:
        refs = tuple(ProviderRef(name=p) for p in providers)
        return ProfileConfig(name=name, namespace=namespace, models=(model,), providers=refs)

    config = ProxyConfig(
        providers=(
            provider("team-a", "fast", "a-model"),
            provider("team-a", "shared", "a-model", "other-model"),
            provider("team-b", "fast", "b-model"),
        ),
        profiles=(
            profile("team-a", "chat", "a-model", "fast", "shared"),
            profile("team-a", "other", "other-model", "shared"),
            profile("team-b", "chat", "b-model", "fast"),
        ),
    )
    keys = tmp_path / "keys.yaml"
    keys.write_text(keys_yaml(("admin", ROTATED_KEY, "*"), ("a-chat", EMBED_KEY, "team-a/chat")))
    proxy = await proxy_server(config, options=AppOptions(api_keys=KeyFileSource(keys).current))
    async with client(proxy, ROTATED_KEY) as admin:
        for model in ("a-model", "other-model", "b-model"):
            await admin.chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]

    latency_url = proxy.base_url + "/v1/routing/latency"

    async def rows(key: str) -> set[tuple[str, str]]:
        headers = {"Authorization": f"Bearer {key}"}
        async with aiohttp.ClientSession(headers=headers) as session, session.get(latency_url) as response:
            assert response.status == 200
            return {(row["provider"], row["model"]) for row in (await response.json())["data"]}

    everything = await rows(ROTATED_KEY)
    assert {("team-a/shared", "other-model"), ("team-b/fast", "b-model")} <= everything  # there to leak
    assert await rows(EMBED_KEY) == {("team-a/fast", "a-model")}  # failover: the first provider served it
