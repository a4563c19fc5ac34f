"""API keys never leave the proxy: not in logs (DEBUG), /metrics, error bodies, introspection, or reprs.

A distinctive provider key is loaded from the environment; an upstream that
misbehaves in every way that could carry it back (echoing the Authorization
header in errors, in garbage bodies, in stream error events) is asked through
every endpoint, then everything the proxy exposes is searched for the key.
"""

import asyncio
import logging
from typing import Any

import aiohttp
import orjson
import pytest

from switchboard.api.config import load_config
from switchboard.api.provider import CircuitBreaker
from tests.fixtures.hardening import RawRequest, http_response, sse_head
from tests.fixtures.proxy import ProxyFactory, ProxyServer, SdkClient, dump_config, provider_config, proxy_config
from tests.hardening.checks import CHAT, EMBED, metrics_text

pytestmark = pytest.mark.timeout(60)

SECRET = "sk-hardening-7f3a9c1e5d-DO-NOT-LEAK"
KEY_ENV = "HARDENING_PROVIDER_KEY"


def sent_key(request: RawRequest) -> str:
    for line in request.head.decode().split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "authorization":
            return value.strip()
    return "(none)"


async def echoing_upstream(request: RawRequest, writer: asyncio.StreamWriter) -> None:
    """Answers every request with an error that quotes the key it was sent, in one of several shapes."""
    key = sent_key(request)
    mode = orjson.loads(request.body)["messages"][0]["content"] if b'"messages"' in request.body else "401"
    if mode == "garbage":
        writer.write(http_response(200, f"<html>bad key {key}</html>".encode(), {"Content-Type": "text/html"}))
    elif mode == "stream":
        event = orjson.dumps({"choices": [{"index": 0, "delta": {"content": "x"}}]})
        error = orjson.dumps({"error": {"message": f"key {key} revoked", "code": 500}})
        writer.write(sse_head() + b"data: " + event + b"\n\n")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"data: " + error + b"\n\n")
        await writer.drain()
        writer.close()
    else:
        body = orjson.dumps({"error": {"message": f"Incorrect API key provided: {key}", "type": "invalid_key"}})
        writer.write(http_response(int(mode) if mode.isdigit() else 401, body))


@pytest.fixture
async def secret_proxy(proxy_server: ProxyFactory, raw_upstream: Any, monkeypatch: pytest.MonkeyPatch) -> ProxyServer:
    monkeypatch.setenv(KEY_ENV, SECRET)
    upstream = await raw_upstream(echoing_upstream)
    # No breaker: every request below must reach the upstream, however often it failed before.
    no_breaker = CircuitBreaker(enabled=False)
    provider = provider_config("echo", "openai", upstream.base_url, key_env=KEY_ENV, circuit_breaker=no_breaker)
    return await proxy_server(proxy_config([provider]))


async def collect_outputs(proxy: ProxyServer, sdk_client: SdkClient) -> list[str]:
    """Every answer the proxy gives for a round of requests that make the upstream echo the key."""
    outputs: list[str] = []
    async with aiohttp.ClientSession() as session:
        for mode in ("401", "403", "400", "429", "500", "garbage"):
            body = {**CHAT, "messages": [{"role": "user", "content": mode}]}
            async with session.post(proxy.openai_base_url + "/chat/completions", json=body) as r:
                outputs.append(f"{r.status} {dict(r.headers)} {await r.text()}")
        for mode in ("stream", "401", "500"):  # a streamed request: an error mid-stream, or as the answer
            stream_body = {**CHAT, "stream": True, "messages": [{"role": "user", "content": mode}]}
            async with session.post(proxy.openai_base_url + "/chat/completions", json=stream_body) as r:
                outputs.append(f"stream {mode}: {r.status} {await r.text()}")
        async with session.post(proxy.openai_base_url + "/embeddings", json=EMBED) as r:
            outputs.append(await r.text())
        for path in ("/routing/explain", "/routing/estimate-cost"):
            async with session.post(proxy.openai_base_url + path, json=CHAT) as r:
                outputs.append(await r.text())
        for path in ("/v1/routing/latency", "/v1/models", "/readyz", "/healthz"):
            async with session.get(proxy.base_url + path) as r:
                outputs.append(await r.text())
    outputs.append(await metrics_text(proxy))
    return outputs


async def test_key_reaches_the_upstream_but_no_output(
    secret_proxy: ProxyServer, raw_upstream: Any, sdk_client: SdkClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    outputs = await collect_outputs(secret_proxy, sdk_client)

    for output in outputs:
        assert SECRET not in output, output[:500]
    assert any("Incorrect API key provided: Bearer ***" in o for o in outputs)  # the message does come through
    assert any("key Bearer *** revoked" in o for o in outputs)  # and so does the mid-stream error event
    assert any(o.startswith("stream 401: ") and "Incorrect API key provided: Bearer ***" in o for o in outputs)
    assert SECRET not in caplog.text
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert SECRET not in repr(record.args) and SECRET not in str(record.exc_info)


async def test_key_is_really_sent_upstream(secret_proxy: ProxyServer) -> None:
    """Guards the test above against passing only because no key was configured."""
    url = secret_proxy.openai_base_url + "/chat/completions"
    async with aiohttp.ClientSession() as session, session.post(url, json=CHAT) as r:
        text = await r.text()
    assert r.status == 502 and "Bearer ***" in text, text


async def test_config_and_runtime_reprs_hide_the_key(secret_proxy: ProxyServer) -> None:
    runtime = secret_proxy.runtime
    assert runtime is not None
    snap = runtime.snapshot
    provider = snap.config.providers[0]
    target = snap.target(provider, provider.models[0])
    assert target.api_key == SECRET
    texts = [
        repr(snap),
        repr(snap.config),
        repr(dict(snap.credentials)),
        str(dict(snap.credentials)),
        repr(target),
        dump_config(snap.config),
        repr(load_config(dump_config(snap.config))),
        repr(runtime.router),
    ]
    for text in texts:
        assert SECRET not in text, text[:300]
