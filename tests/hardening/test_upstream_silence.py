"""An upstream that goes silent: ``firstByteSeconds`` bounds every wait on it, whatever the attempt's total.

The attempt's total (and the request's deadline) is set far beyond the client's own timeout, so only the
silence bound can answer in time: before the headers, in the middle of a complete answer's body (announced
length or chunked), before a stream's headers and inside a stream. Bytes that keep coming, each sooner than
the bound, are no silence: such an answer is served.
"""

import asyncio
from typing import Any

import aiohttp
import openai
import orjson
import pytest

from switchboard.api.profile import RetryPolicy
from switchboard.api.provider import Timeouts
from tests.fixtures.hardening import RawRequest, http_response, sse_head
from tests.fixtures.proxy import ProxyFactory, ProxyServer, SdkClient, provider_config, proxy_config
from tests.hardening.checks import CHAT, assert_openai_error, open_upstream_connections, upstream_error_count

pytestmark = pytest.mark.timeout(60)

SILENCE = 1.0
LONG = 600.0
"""The attempt's total and the request's deadline: far past the client's patience (``CLIENT_WAIT``)."""
CLIENT_WAIT = aiohttp.ClientTimeout(total=20)
ANSWER = orjson.dumps({"id": "c1", "object": "chat.completion", "choices": [{"index": 0, "message": {}}]})


async def silent_proxy(proxy_server: ProxyFactory, upstream_url: str) -> ProxyServer:
    timeouts = Timeouts(connect_seconds=2, first_byte_seconds=SILENCE, total_seconds=LONG)
    provider = provider_config("raw", "openai", upstream_url, timeouts=timeouts)
    return await proxy_server(proxy_config([provider], retry=RetryPolicy(deadline_seconds=LONG)))


async def post_chat(proxy: ProxyServer, **extra: Any) -> tuple[int, bytes]:
    url = proxy.openai_base_url + "/chat/completions"
    async with (
        aiohttp.ClientSession(timeout=CLIENT_WAIT) as session,
        session.post(url, json={**CHAT, **extra}) as response,
    ):
        return response.status, await response.read()


def then_silence(data: bytes) -> Any:
    async def script(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()
        await asyncio.Event().wait()

    return script


SILENT = {
    "before_headers": then_silence(b""),
    "after_the_status_line": then_silence(b"HTTP/1.1 200 OK\r\n"),
    "mid_body": then_silence(http_response(200, b"", {"Content-Length": str(len(ANSWER))}) + ANSWER[:7]),
    "mid_chunked_body": then_silence(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n"
        + ANSWER[:7]
        + b"\r\n"
    ),
}


@pytest.mark.parametrize("name", sorted(SILENT))
@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_silence_before_the_answer_is_a_504(
    name: str, stream: bool, raw_upstream: Any, proxy_server: ProxyFactory
) -> None:
    proxy = await silent_proxy(proxy_server, (await raw_upstream(SILENT[name])).base_url)

    status, body = await post_chat(proxy, stream=stream)

    error = assert_openai_error(status, body, 504)
    assert error["message"] == "provider 'raw': upstream timed out"
    assert await upstream_error_count(proxy, "raw") == 1
    assert open_upstream_connections(proxy) == 0


async def test_silence_inside_a_stream_ends_it_with_an_error_event(
    raw_upstream: Any, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    event = {"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "Hi"}}]}
    upstream = await raw_upstream(then_silence(sse_head() + b"data: " + orjson.dumps(event) + b"\n\n"))
    proxy = await silent_proxy(proxy_server, upstream.base_url)

    received: list[str] = []
    with pytest.raises(openai.APIError, match="stream interrupted: upstream timed out"):
        stream = await sdk_client(proxy).chat.completions.create(**CHAT, stream=True, timeout=CLIENT_WAIT.total)
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert received == ["Hi"]
    assert await upstream_error_count(proxy, "raw") == 1
    assert open_upstream_connections(proxy) == 0


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_body_that_keeps_coming_is_no_silence(
    declared: bool, raw_upstream: Any, proxy_server: ProxyFactory
) -> None:
    """Pieces a fifth of the bound apart, longer than the bound in all: every piece starts the silence over."""
    size = -(-len(ANSWER) // 10)
    pieces = [ANSWER[i : i + size] for i in range(0, len(ANSWER), size)]
    pause = SILENCE / 5
    assert len(pieces) * pause > 1.5 * SILENCE

    async def trickle(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        framing = {"Content-Length": str(len(ANSWER))} if declared else {"Transfer-Encoding": "chunked"}
        head = http_response(200, b"", framing)
        writer.write(head if declared else head.replace(b"Content-Length: 0\r\n", b""))
        for piece in pieces:
            writer.write(piece if declared else f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            await writer.drain()
            await asyncio.sleep(pause)
        if not declared:
            writer.write(b"0\r\n\r\n")

    proxy = await silent_proxy(proxy_server, (await raw_upstream(trickle)).base_url)

    status, body = await post_chat(proxy)

    assert status == 200, body
    assert orjson.loads(body)["choices"]
    assert await upstream_error_count(proxy, "raw") == 0
    assert open_upstream_connections(proxy) == 0


async def test_a_stream_longer_than_the_bound_is_no_silence(
    raw_upstream: Any, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    """Events a fifth of the bound apart, longer than the bound in all: the stream is relayed to its end."""
    words = [f"w{i} " for i in range(10)]

    async def steady(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(sse_head())
        for word in words:
            chunk = {
                "id": "c1",
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {"content": word}}],
            }
            writer.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
            await writer.drain()
            await asyncio.sleep(SILENCE / 5)
        writer.write(b"data: [DONE]\n\n")
        await writer.drain()
        writer.close()

    proxy = await silent_proxy(proxy_server, (await raw_upstream(steady)).base_url)

    stream = await sdk_client(proxy).chat.completions.create(**CHAT, stream=True, timeout=CLIENT_WAIT.total)
    received = [chunk.choices[0].delta.content async for chunk in stream if chunk.choices]
    assert "".join(c or "" for c in received) == "".join(words)
    assert await upstream_error_count(proxy, "raw") == 0
    assert open_upstream_connections(proxy) == 0
