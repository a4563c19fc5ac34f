"""``x-request-id``: accepted from the client or generated, echoed, and on every log line of the request."""

import asyncio
import logging

import aiohttp
import pytest

from switchboard.logformat import RequestIdFilter
from tests.fixtures.proxy import ProxyFactory, SdkClient, provider_config, proxy_config
from tests.fixtures.upstream import MockFactory


async def test_request_ids_are_echoed_and_logged(
    mock_upstream_factory: MockFactory,
    proxy_server: ProxyFactory,
    sdk_client: SdkClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(RequestIdFilter())  # what the CLI installs on its log handlers
    broken, healthy = await mock_upstream_factory(), await mock_upstream_factory()
    await broken.set_faults("mock-model", status=503)
    providers = [
        provider_config("broken", "openai", broken.base_url),
        provider_config("ok", "openai", healthy.base_url),
    ]
    proxy = await proxy_server(proxy_config(providers))
    caplog.clear()
    raw = await sdk_client(proxy).chat.completions.with_raw_response.create(
        model="mock-model", messages=[{"role": "user", "content": "hi"}], extra_headers={"x-request-id": "req-42"}
    )
    assert raw.headers["x-request-id"] == "req-42"
    for _ in range(250):  # the access line is written by its own thread, a moment later
        if any(r.name == "switchboard.proxy.access" for r in caplog.records):
            break
        await asyncio.sleep(0.02)
    mine = [r for r in caplog.records if r.name.startswith("switchboard.proxy")]
    assert {r.name for r in mine} >= {"switchboard.proxy.upstream", "switchboard.proxy.access"}  # failover + access
    assert {getattr(r, "request_id", None) for r in mine} == {"req-42"}
    async with aiohttp.ClientSession() as session:
        for sent in ({}, {"x-request-id": "bad id\twith spaces"}):
            async with session.get(proxy.base_url + "/v1/models", headers=sent) as response:
                generated = response.headers["x-request-id"]
                assert len(generated) == 32 and generated != sent.get("x-request-id")
