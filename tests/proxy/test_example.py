"""examples/standalone.yaml is valid and serves through both of its providers' adapters."""

from urllib.parse import urlsplit

import pytest

from switchboard.api.config import load_config
from switchboard.demo import EXAMPLE, instructions, mock_upstreams
from tests.fixtures.proxy import ProxyFactory, SdkClient
from tests.fixtures.upstream import MockFactory


async def test_example_serves_with_failover(
    mock_upstream_factory: MockFactory,
    proxy_server: ProxyFactory,
    sdk_client: SdkClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = load_config(EXAMPLE.read_text())
    for provider in config.providers:
        assert provider.api_key is not None and provider.api_key.env, "example keys must come from env vars"
        monkeypatch.delenv(provider.api_key.env, raising=False)
    ports = mock_upstreams(config)  # sets the demo keys in the environment
    assert len(ports) == 2
    # Same config, but on free ports: each provider's mock replaced by an in-process one.
    text = EXAMPLE.read_text()
    mocks = {}
    for port, key in ports.items():
        mocks[port] = await mock_upstream_factory(api_key=key)
        text = text.replace(f"http://127.0.0.1:{port}", mocks[port].base_url)
    proxy = await proxy_server(text)
    client = sdk_client(proxy)
    raw = await client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello example"}]
    )
    assert raw.parse().choices[0].message.content == "hello example"
    assert raw.headers["x-switchboard-provider"] == "primary"
    primary_port = urlsplit(config.providers[0].effective_base_url).port
    await mocks[primary_port].set_faults("gpt-4o-mini", status=500)
    raw = await client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "fail over"}]
    )
    assert raw.parse().choices[0].message.content == "fail over"
    assert raw.headers["x-switchboard-provider"] == "backup"
    embedded = await client.embeddings.create(model="text-embedding-3-small", input="x")
    assert embedded.data[0].embedding
    assert "curl" in instructions(proxy.base_url) and "OpenAI(base_url=" in instructions(proxy.base_url)
