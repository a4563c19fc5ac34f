"""Hot reload from the config file: valid changes are served, invalid ones rejected,
in-flight requests finish on the config they started with."""

import asyncio
import logging

import aiohttp
import pytest
import yaml

from tests.fixtures.proxy import ProxyFactory, SdkClient, provider_config, proxy_config
from tests.fixtures.upstream import MockFactory

MESSAGES = [{"role": "user", "content": "hi"}]


async def _metrics(base_url: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(base_url + "/metrics") as resp:
        return await resp.text()


async def test_valid_change_is_served(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    mock = await mock_upstream_factory()
    proxy = await proxy_server(proxy_config([provider_config("a", "openai", mock.base_url)]))
    client = sdk_client(proxy)
    models = ("mock-model", "added-model")
    proxy.write_config(proxy_config([provider_config("a", "openai", mock.base_url, models=models)], models=models))
    await proxy.wait_for_version(2)
    reply = await client.chat.completions.create(model="added-model", messages=MESSAGES)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "hi"
    assert sorted(m.id for m in (await client.models.list()).data) == ["added-model", "mock-model"]
    assert 'switchboard_config_reloads_total{result="success"} 2.0' in await _metrics(proxy.base_url)


async def test_invalid_change_keeps_the_last_good_config(
    mock_upstream_factory: MockFactory,
    proxy_server: ProxyFactory,
    sdk_client: SdkClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mock = await mock_upstream_factory()
    proxy = await proxy_server(proxy_config([provider_config("a", "openai", mock.base_url)]))
    client = sdk_client(proxy)
    caplog.set_level(logging.ERROR, logger="switchboard.proxy.config")
    broken = proxy_config([provider_config("a", "openai", mock.base_url)]).to_wire()
    broken["profiles"][0]["strategy"] = "fastest-please"  # type: ignore[index]
    proxy.write_config(yaml.safe_dump(broken))
    for _ in range(100):
        if any("profiles[0].strategy" in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.05)
    message = next(r.getMessage() for r in caplog.records if "profiles[0].strategy" in r.getMessage())
    assert "still serving the last good config" in message
    status, body = await proxy.readyz()
    assert status == 200 and body["configVersion"] == 1
    reply = await client.chat.completions.create(model="mock-model", messages=MESSAGES)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "hi"
    assert 'switchboard_config_reloads_total{result="failure"} 1.0' in await _metrics(proxy.base_url)


async def test_missing_credential_is_rejected_naming_the_field(
    mock_upstream_factory: MockFactory,
    proxy_server: ProxyFactory,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SB_NOT_SET", raising=False)
    mock = await mock_upstream_factory()
    proxy = await proxy_server(proxy_config([provider_config("a", "openai", mock.base_url)]))
    caplog.set_level(logging.ERROR, logger="switchboard.proxy.config")
    proxy.write_config(proxy_config([provider_config("a", "openai", mock.base_url, key_env="SB_NOT_SET")]))
    for _ in range(100):
        if any("providers[0].apiKey.env" in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.05)
    assert any("SB_NOT_SET" in r.getMessage() for r in caplog.records)
    assert (await proxy.readyz())[1]["configVersion"] == 1


async def test_in_flight_stream_finishes_on_the_old_config(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    old_mock, new_mock = await mock_upstream_factory(), await mock_upstream_factory()
    await old_mock.set_faults("mock-model", latency_per_token_ms=150)
    proxy = await proxy_server(proxy_config([provider_config("old", "openai", old_mock.base_url)]))
    client = sdk_client(proxy)
    words = "one two three four five six seven eight"
    response = await client.chat.completions.with_raw_response.create(
        model="mock-model", messages=[{"role": "user", "content": words}], stream=True
    )
    assert response.headers["x-switchboard-provider"] == "old"
    stream = response.parse()
    chunks = stream.__aiter__()
    first = await chunks.__anext__()
    # Swap to a config where the old provider no longer exists while the stream is mid-flight.
    proxy.write_config(proxy_config([provider_config("new", "openai", new_mock.base_url)]))
    await proxy.wait_for_version(2)
    rest = [chunk async for chunk in chunks]
    text = "".join(c.choices[0].delta.content or "" for c in [first, *rest] if c.choices)
    assert text == words
    fresh = await client.chat.completions.with_raw_response.create(model="mock-model", messages=MESSAGES)  # type: ignore[arg-type]
    assert fresh.headers["x-switchboard-provider"] == "new"
    assert proxy.runtime is not None
    for _ in range(50):  # the dropped provider's pool closes once its last request ended
        if not proxy.runtime._retired:
            break
        await asyncio.sleep(0.02)
    assert not proxy.runtime._retired
