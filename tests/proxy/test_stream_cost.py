"""A stream's cost: no header (it is only known after the last chunk), but metric and access log."""

import asyncio
import logging

import aiohttp
import pytest

from switchboard.api.provider import Pricing, ProviderModel
from tests.fixtures.proxy import ProxyFactory, SdkClient, provider_config, proxy_config
from tests.fixtures.upstream import MockFactory


async def access_lines(caplog: pytest.LogCaptureFixture, count: int = 1) -> list[str]:
    """The access log's lines once ``count`` arrived: its writer thread logs them a moment after the answer."""
    for _ in range(500):
        lines = [r.getMessage() for r in caplog.records if r.name == "switchboard.proxy.access"]
        if len(lines) >= count:
            return lines
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} access log line(s) expected, got {len(lines)}")


MESSAGES = [{"role": "user", "content": "count my tokens"}]
PRICED = ProviderModel(name="mock-model", pricing=Pricing(input_per_million=1_000_000, output_per_million=2_000_000))


async def test_a_streams_cost_reaches_the_metric_and_the_access_log(
    mock_upstream_factory: MockFactory,
    proxy_server: ProxyFactory,
    sdk_client: SdkClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="switchboard.proxy.access")
    mock = await mock_upstream_factory()
    provider = provider_config("priced", "openai", mock.base_url).model_copy(update={"models": (PRICED,)})
    proxy = await proxy_server(proxy_config([provider]))
    raw = await sdk_client(proxy).chat.completions.with_raw_response.create(
        model="mock-model",
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    assert "x-switchboard-cost-usd" not in raw.headers  # sent before the usage exists
    usage = [chunk.usage async for chunk in raw.parse() if chunk.usage is not None][-1]
    expected = usage.prompt_tokens * 1.0 + usage.completion_tokens * 2.0  # USD: $1 per input, $2 per output token
    assert expected > 0
    async with aiohttp.ClientSession() as http, http.get(proxy.base_url + "/metrics") as resp:
        metrics = await resp.text()
    assert f'switchboard_cost_usd_total{{profile="default",provider="priced"}} {expected}' in metrics
    [line] = await access_lines(caplog)
    assert line.startswith("POST /v1/chat/completions 200 profile=default provider=priced client=-")
    assert line.endswith(f"cost_usd={expected:g}")
