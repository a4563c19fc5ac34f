"""Upstreams that lie or hang: the client gets a clear 502/504 (or a failover), never a 500 or a hang.

Each test scripts a raw TCP upstream byte by byte (``raw_upstream``), points a
proxy at it with short timeouts, asks through the real app, and checks the
answer, the metrics and that no upstream connection stays checked out.
"""

import asyncio
import gzip
from typing import Any

import aiohttp
import openai
import orjson
import pytest

from switchboard.api.provider import Timeouts
from switchboard.proxy.upstream import transport
from tests.fixtures.hardening import RawRequest, http_response, sse_head
from tests.fixtures.proxy import ProxyFactory, ProxyServer, SdkClient, provider_config, proxy_config
from tests.hardening.checks import CHAT, assert_openai_error, open_upstream_connections, upstream_error_count

pytestmark = pytest.mark.timeout(60)

TIMEOUTS = Timeouts(connect_seconds=2, first_byte_seconds=0.5, total_seconds=2)
OK_ANSWER = {"id": "c1", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant"}}]}


def chunk_event(text: str) -> bytes:
    payload = {"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": text}}]}
    return b"data: " + orjson.dumps(payload) + b"\n\n"


async def lying_proxy(proxy_server: ProxyFactory, raw_base_url: str, *, also_mock: str | None = None) -> ProxyServer:
    providers = [provider_config("raw", "openai", raw_base_url, timeouts=TIMEOUTS)]
    if also_mock is not None:
        providers.append(provider_config("mock", "openai", also_mock))
    return await proxy_server(proxy_config(providers))


async def post_chat(proxy: ProxyServer, **extra: Any) -> tuple[int, bytes, dict[str, str]]:
    url = proxy.openai_base_url + "/chat/completions"
    async with aiohttp.ClientSession() as session, session.post(url, json={**CHAT, **extra}) as response:
        return response.status, await response.read(), dict(response.headers)


def reply(data: bytes) -> Any:
    async def script(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(data)

    return script


def reply_then_reset(data: bytes) -> Any:
    async def script(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()
        writer.transport.abort()  # RST, not FIN

    return script


async def hang(request: RawRequest, writer: asyncio.StreamWriter) -> None:
    await asyncio.Event().wait()


async def endless_keepalive(request: RawRequest, writer: asyncio.StreamWriter) -> None:
    """SSE comments forever: bytes keep coming, so only the total timeout can end it."""
    writer.write(sse_head())
    while True:
        writer.write(b": ping\n\n")
        await writer.drain()
        await asyncio.sleep(0.05)


async def trickle(request: RawRequest, writer: asyncio.StreamWriter) -> None:
    body = orjson.dumps(OK_ANSWER)
    writer.write(http_response(200, b"", {"Content-Length": str(len(body))}))
    for byte in body:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(0.1)


LIES = {
    "html": (reply(http_response(200, b"<html><body>Bad gateway</body></html>", {"Content-Type": "text/html"})), 502),
    "json_without_choices": (reply(http_response(200, b'{"id": "x", "object": "chat.completion"}')), 502),
    "choices_not_objects": (reply(http_response(200, b'{"choices": [1, null, "x"]}')), 502),
    "choices_a_string": (reply(http_response(200, b'{"choices": "none"}')), 502),
    "json_array": (reply(http_response(200, b"[1, 2, 3]")), 502),
    "empty_200": (reply(http_response(200, b"")), 502),
    "truncated_body": (reply_then_reset(http_response(200, b'{"choices": [', {"Content-Length": "500"})), 502),
    "content_length_short": (reply(http_response(200, orjson.dumps(OK_ANSWER), {"Content-Length": "7"})), 502),
    "reset_mid_body": (reply_then_reset(http_response(200, b"", {"Content-Length": "100"}) + b'{"choi'), 502),
    "reset_before_status": (reply_then_reset(b"HTTP/1.1 2"), 502),
    "not_http": (reply_then_reset(b"SSH-2.0-OpenSSH_9.6\r\n"), 502),
    "redirect_302": (reply(http_response(302, b"", {"Location": "http://127.0.0.1:9/v1/chat/completions"})), 502),
    "redirect_307": (reply(http_response(307, b"moved", {"Location": "/elsewhere"})), 502),
    "not_modified_304": (reply(http_response(304)), 502),
    "status_1xx_only": (reply_then_reset(b"HTTP/1.1 199 Odd\r\n\r\n"), 502),
    "hang_before_headers": (hang, 504),
    "endless_sse_keepalive": (endless_keepalive, 504),
    "slow_trickle": (trickle, 504),
    "announced_huge_body": (reply(http_response(200, b"{}", {"Content-Length": str(10**12)})), 502),
}


@pytest.mark.parametrize("name", sorted(LIES))
async def test_lying_upstream_gets_a_clear_gateway_error(
    name: str, raw_upstream: Any, proxy_server: ProxyFactory, mock_upstream: Any
) -> None:
    script, status = LIES[name]
    upstream = await raw_upstream(script)
    proxy = await lying_proxy(proxy_server, upstream.base_url)

    got, body, _ = await post_chat(proxy)

    assert_openai_error(got, body, status)
    assert "provider 'raw'" in orjson.loads(body)["error"]["message"]
    assert await upstream_error_count(proxy, "raw") >= 1
    assert open_upstream_connections(proxy) == 0


@pytest.mark.parametrize("name", ["html", "reset_mid_body", "hang_before_headers", "redirect_302"])
async def test_lying_upstream_fails_over_to_a_healthy_one(
    name: str, raw_upstream: Any, proxy_server: ProxyFactory, mock_upstream: Any
) -> None:
    upstream = await raw_upstream(LIES[name][0])
    proxy = await lying_proxy(proxy_server, upstream.base_url, also_mock=mock_upstream.base_url)

    status, body, headers = await post_chat(proxy)

    assert status == 200, body
    assert headers["x-switchboard-provider"] == "mock"
    assert headers["x-switchboard-attempts"] == "2"
    assert await upstream_error_count(proxy, "raw") == 1
    assert open_upstream_connections(proxy) == 0


async def test_redirect_is_not_followed(raw_upstream: Any, proxy_server: ProxyFactory, mock_upstream: Any) -> None:
    """A redirect would resend the prompt to a host nobody configured."""
    target = mock_upstream.base_url + "/v1/chat/completions"
    upstream = await raw_upstream(reply(http_response(307, b"", {"Location": target})))
    proxy = await lying_proxy(proxy_server, upstream.base_url)

    status, body, _ = await post_chat(proxy)

    assert_openai_error(status, body, 502)
    assert (await mock_upstream.stats())["total"] == 0


async def test_oversized_streamed_body_is_cut_at_the_limit(
    raw_upstream: Any, proxy_server: ProxyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport, "MAX_UPSTREAM_BODY_BYTES", 64 * 1024)

    async def chunked_flood(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        piece = b"a" * 16384
        for _ in range(64):  # 1 MiB, 16 times the limit
            writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            await writer.drain()
        writer.write(b"0\r\n\r\n")

    proxy = await lying_proxy(proxy_server, (await raw_upstream(chunked_flood)).base_url)

    status, body, _ = await post_chat(proxy)

    assert_openai_error(status, body, 502)
    assert "limit" in orjson.loads(body)["error"]["message"]
    assert open_upstream_connections(proxy) == 0


@pytest.mark.parametrize(("inflated", "status"), [(1024, 200), (1024 * 1024, 502)])
async def test_compressed_body_is_counted_as_it_inflates(
    inflated: int, status: int, raw_upstream: Any, proxy_server: ProxyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gzip answer announces its compressed length: it is served, but may not inflate past the limit."""
    monkeypatch.setattr(transport, "MAX_UPSTREAM_BODY_BYTES", 64 * 1024)
    answer = orjson.dumps(OK_ANSWER) + b" " * inflated  # valid JSON at any size
    compressed = gzip.compress(answer)
    assert len(compressed) < 64 * 1024
    upstream = await raw_upstream(reply(http_response(200, compressed, {"Content-Encoding": "gzip"})))
    proxy = await lying_proxy(proxy_server, upstream.base_url)

    got, body, _ = await post_chat(proxy)

    if status == 200:
        assert got == 200, body
        assert orjson.loads(body)["choices"]
    else:
        assert_openai_error(got, body, status)
        assert "limit" in orjson.loads(body)["error"]["message"]
    assert open_upstream_connections(proxy) == 0


@pytest.mark.parametrize(
    ("retry_after", "passed_on"),
    [("1e400", "1"), ("inf", "1"), ("nan", "1"), ("-1", "1"), ("soon", "1"), ("Fri, 31 Dec 9999 23:59:59 GMT", "600")],
)
async def test_garbage_retry_after_never_poisons_the_provider(
    retry_after: str, passed_on: str, raw_upstream: Any, proxy_server: ProxyFactory
) -> None:
    """Regression: ``Retry-After: 1e400`` used to cool the provider down forever and 500 every later request."""
    answers = iter([http_response(429, b'{"error": {"message": "slow down"}}', {"Retry-After": retry_after})])

    async def script(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(next(answers, http_response(200, orjson.dumps(OK_ANSWER))))

    proxy = await lying_proxy(proxy_server, (await raw_upstream(script)).base_url)

    status, body, headers = await post_chat(proxy)
    assert_openai_error(status, body, 429)
    assert headers["Retry-After"] == passed_on  # unreadable: the default second; a far date: the 600 s cap
    for _ in range(3):  # later requests: still clear answers (429 while cooling down, then 200)
        status, body, _ = await post_chat(proxy)
        assert status in (200, 429), body


async def test_stream_reset_mid_stream_ends_with_an_error_event(
    raw_upstream: Any, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    upstream = await raw_upstream(reply_then_reset(sse_head() + chunk_event("Hel") + chunk_event("lo")))
    proxy = await lying_proxy(proxy_server, upstream.base_url)

    received: list[str] = []
    with pytest.raises(openai.APIError, match="stream interrupted"):
        stream = await sdk_client(proxy).chat.completions.create(**CHAT, stream=True)
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "Hello"
    assert await upstream_error_count(proxy, "raw") == 1
    assert open_upstream_connections(proxy) == 0


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param(b"data: {not json\n\n", id="garbage-json"),
        pytest.param(b"data: \xff\xfe\n\n", id="not-utf8"),
        pytest.param(b'data: {"error": {"message": "boom", "code": 500}}\n\n', id="error-event"),
        pytest.param(b"", id="silent-forever"),  # first_byte timeout fires inside the stream
    ],
)
async def test_stream_garbage_after_first_event_ends_with_an_error_event(
    tail: bytes, raw_upstream: Any, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    client_has_it = asyncio.Event()

    async def script(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(sse_head() + chunk_event("Hi"))
        await writer.drain()
        await client_has_it.wait()  # the tail comes once the client holds the first event: after the commit
        writer.write(tail)
        await writer.drain()
        await asyncio.Event().wait()  # never ends on its own

    proxy = await lying_proxy(proxy_server, (await raw_upstream(script)).base_url)

    received: list[str] = []
    with pytest.raises(openai.APIError, match="stream interrupted"):
        stream = await sdk_client(proxy).chat.completions.create(**CHAT, stream=True)
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
            client_has_it.set()
    assert received == ["Hi"]
    assert open_upstream_connections(proxy) == 0


@pytest.mark.parametrize(
    "events",
    [
        pytest.param(b"data: {not json\n\n", id="garbage-first"),
        pytest.param(b"event: x\ndata: [1]\n\n", id="array-event"),
        pytest.param(b"", id="empty-stream"),
        pytest.param(chunk_event("cut")[:-5], id="cut-mid-event"),
    ],
)
async def test_stream_broken_before_first_event_is_a_502(
    events: bytes, raw_upstream: Any, proxy_server: ProxyFactory
) -> None:
    """Nothing reached the client yet: a plain 502 JSON error (and failover when possible), not a stream."""
    proxy = await lying_proxy(proxy_server, (await raw_upstream(reply_then_reset(sse_head() + events))).base_url)

    status, body, _ = await post_chat(proxy, stream=True)

    assert_openai_error(status, body, 502)
    assert open_upstream_connections(proxy) == 0


async def test_endless_stream_is_ended_by_the_total_timeout(
    raw_upstream: Any, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    """Events keep coming and never finish: the attempt's total timeout ends the stream."""

    async def endless(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(sse_head())
        while True:
            writer.write(chunk_event("."))
            await writer.drain()
            await asyncio.sleep(0.05)

    proxy = await lying_proxy(proxy_server, (await raw_upstream(endless)).base_url)

    with pytest.raises(openai.APIError, match="timed out"):
        stream = await sdk_client(proxy).chat.completions.create(**CHAT, stream=True)
        async for _ in stream:
            pass
    assert await upstream_error_count(proxy, "raw") == 1
    assert open_upstream_connections(proxy) == 0


async def test_proxy_serves_normally_after_every_lie(
    raw_upstream: Any, proxy_server: ProxyFactory, mock_upstream: Any, sdk_client: SdkClient
) -> None:
    """One upstream lying in turn every way must not disturb the healthy one or the proxy."""
    lies = iter(LIES[name][0] for name in sorted(LIES) if name not in ("hang_before_headers", "slow_trickle"))

    async def script(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        await next(lies, reply(http_response(200, orjson.dumps(OK_ANSWER))))(request, writer)

    upstream = await raw_upstream(script)
    proxy = await proxy_server(
        proxy_config(
            [
                provider_config("raw", "openai", upstream.base_url, timeouts=TIMEOUTS),
                provider_config("mock", "openai", mock_upstream.base_url),
            ],
            strategy="round-robin",
        )
    )
    client = sdk_client(proxy)
    for _ in range(12):
        answer = await client.chat.completions.create(**CHAT)
        assert answer.choices
    assert open_upstream_connections(proxy) == 0
