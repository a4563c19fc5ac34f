"""Hostile standalone config files: rejected with the field or line named; the last good config keeps serving.

Unit tests drive ``load_config`` (and the keys file parser, which shares the
guarded YAML loader); the integration tests write each bad file under a
running proxy and check that it still answers, that the log says why, and that
hot reload still works afterwards (a ``RecursionError`` used to end it).
"""

import asyncio
import logging
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from switchboard.api.config import MAX_CONFIG_BYTES, ConfigError, load_config
from switchboard.proxy.auth import KeyFileError, parse_key_file
from tests.fixtures.proxy import ProxyFactory, ProxyServer, SdkClient, dump_config, provider_config, proxy_config
from tests.hardening.checks import CHAT, metrics_text

pytestmark = pytest.mark.timeout(60)


def billion_laughs(levels: int = 9) -> str:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for index in range(1, levels):
        prev, name = chr(ord("a") + index - 1), chr(ord("a") + index)
        text += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]\n"
    return text


GOOD = "providers: []\nprofiles: []\n"
BAD_FILES: dict[str, tuple[str | bytes, str]] = {
    "billion_laughs": (billion_laughs(), "aliases"),
    "bomb_under_a_real_field": (billion_laughs() + "providers: *i\n", "aliases"),
    "merge_key_alias": ("base: &base {type: openai}\nproviders: [{<<: *base, name: x}]\n", "aliases"),
    "deep_lists": ("[" * 50_000 + "]" * 50_000, "nested deeper"),
    "deep_maps": ("{a: " * 5_000 + "1" + "}" * 5_000, "nested deeper"),
    "duplicate_keys": ("providers: []\nprofiles: []\nproviders: []\n", "duplicate key 'providers'"),
    "huge_integer": ("fleet: {replicas: " + "9" * 5_000 + "}\n", "unreadable value"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "not valid YAML"),
    "oversized": ("# padding\n" * (MAX_CONFIG_BYTES // 10 + 1), "the limit is"),
    "truncated": ("providers:\n  - name: a\n    type: open", "providers[0].type"),
    "top_level_list": ("- providers\n", "config must be a mapping"),
    "wrong_type": ("providers: {name: a}\nprofiles: []\n", "providers"),
    "unknown_provider_type": (
        "providers: [{name: a, type: cohere, baseUrl: 'http://x', models: [{name: m}]}]\nprofiles: []\n",
        "providers[0].type",
    ),
    "python_tag": ("!!python/object/apply:os.system ['true']\n", "not valid YAML"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_is_a_config_error_naming_the_problem(name: str) -> None:
    text, expected = BAD_FILES[name]
    with pytest.raises(ConfigError) as caught:
        load_config(text)
    assert expected in str(caught.value)
    assert len(str(caught.value)) < 4_000  # a bomb must not become a megabyte of error text


def test_profile_naming_an_unknown_provider_names_it() -> None:
    text = (
        "providers: [{name: a, type: openai, baseUrl: 'http://127.0.0.1:9', models: [{name: m}]}]\n"
        "profiles: [{name: p, models: [m], providers: [{name: ghost}]}]\n"
    )
    with pytest.raises(ConfigError, match="ghost"):
        load_config(text)


def test_ordinary_yaml_still_loads() -> None:
    """Inline merges, comments, quoting, JSON syntax: everything but aliases keeps working."""
    assert load_config(GOOD).providers == ()
    assert load_config('{"providers": [], "profiles": []}').profiles == ()
    assert load_config("fleet: {<<: {replicas: 3}}\n# note\nproviders: []\nprofiles: []\n").fleet.replicas == 3


@pytest.mark.parametrize("name", ["billion_laughs", "deep_lists", "duplicate_keys", "huge_integer", "binary"])
def test_keys_file_rejects_the_same_hostile_yaml(name: str) -> None:
    text, _ = BAD_FILES[name]
    with pytest.raises(KeyFileError, match="not valid YAML"):
        parse_key_file(text.decode(errors="replace") if isinstance(text, bytes) else text)


async def reload_failures(proxy: ProxyServer) -> float:
    for family in text_string_to_metric_families(await metrics_text(proxy)):
        for sample in family.samples:
            if sample.name == "switchboard_config_reloads_total" and sample.labels.get("result") == "failure":
                return sample.value
    return 0.0


async def wait_for_failures(proxy: ProxyServer, count: float) -> None:
    for _ in range(200):
        if await reload_failures(proxy) >= count:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"the proxy did not reject the config ({count} failures expected)")


async def test_last_good_config_keeps_serving_through_every_bad_file(
    proxy_server: ProxyFactory, mock_upstream: Any, sdk_client: SdkClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="switchboard.proxy.config")
    good = proxy_config([provider_config("mock", "openai", mock_upstream.base_url)])
    proxy = await proxy_server(good)
    client = sdk_client(proxy)

    for count, name in enumerate(sorted(BAD_FILES), start=1):
        text, expected = BAD_FILES[name]
        proxy.config_path.write_bytes(text if isinstance(text, bytes) else text.encode())
        await wait_for_failures(proxy, count)
        assert expected in caplog.text, (name, caplog.text[-500:])
        assert "still serving the last good config" in caplog.text
        assert (await client.chat.completions.create(**CHAT)).choices
        assert (await proxy.readyz())[1]["configVersion"] == 1

    proxy.write_config(dump_config(good).replace("mock-model", "mock-model-2"))
    await proxy.wait_for_version(2)  # hot reload survived every bad file


async def test_bad_first_config_is_not_ready_with_the_reason_then_recovers(
    proxy_server: ProxyFactory, mock_upstream: Any
) -> None:
    proxy = await proxy_server(BAD_FILES["deep_lists"][0], wait_ready=False)
    for _ in range(100):
        status, body = await proxy.readyz()
        if "nested deeper" in body.get("reason", ""):
            break
        await asyncio.sleep(0.05)
    assert status == 503 and "nested deeper" in body["reason"], body

    proxy.write_config(proxy_config([provider_config("mock", "openai", mock_upstream.base_url)]))
    await proxy.wait_for_version(1)
