"""Slow readers cannot grow the proxy's memory nor hurt a provider (raw sockets with a tiny receive window).

The mock answers with 64 KiB tokens many times over (``repeat_reply``), far more than every socket
buffer on the way can hold. A client that stops reading must stop the proxy reading the upstream
(backpressure), so the bytes the proxy holds for it stay bounded; one too slow for the total timeout
ends as 499, never as a failure of the provider.
"""

import asyncio
import logging
import socket
from urllib.parse import urlsplit

import orjson
import pytest

from switchboard.api.provider import Timeouts
from switchboard.mock.harness import MockControl
from tests.fixtures.proxy import ProxyFactory, ProxyServer, provider_config, proxy_config
from tests.fixtures.upstream import MockFactory
from tests.hardening.checks import upstream_error_count
from tests.proxy.test_client_aborts import TOUCHY, circuits, wait_for_access_lines

TOKEN = "x" * 65536  # one token of 64 KiB: every stream event carries that much
REPEAT = 512
ANSWER_BYTES = len(TOKEN) * REPEAT  # 32 MiB of content
BUFFER_BOUND = 1024 * 1024
"""What the proxy may hold for one client: aiohttp drains every 64 KiB and the transport pauses
at its high-water mark (64 KiB), plus the one upstream chunk in hand; 1 MiB is a generous ceiling."""


def request(*, stream: bool) -> dict[str, object]:
    return {"model": "mock-model", "messages": [{"role": "user", "content": TOKEN}], "stream": stream}


async def slow_client(proxy: ProxyServer, body: dict[str, object]) -> socket.socket:
    """A raw client whose 4 KiB receive buffer (set before connecting: the TCP window) it never empties itself."""
    url = urlsplit(proxy.base_url)
    assert url.hostname is not None and url.port is not None
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (url.hostname, url.port))
    data = orjson.dumps(body)
    head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
    await loop.sock_sendall(sock, f"{head}Content-Length: {len(data)}\r\n\r\n".encode() + data)
    return sock


async def receive(sock: socket.socket, size: int) -> bytes:
    """Exactly ``size`` bytes (fewer only at the end of the connection)."""
    loop = asyncio.get_running_loop()
    data = b""
    while len(data) < size:
        chunk = await loop.sock_recv(sock, size - len(data))
        if not chunk:
            break
        data += chunk
    return data


async def receive_all(sock: socket.socket) -> bytes:
    loop = asyncio.get_running_loop()
    data = b""
    while chunk := await loop.sock_recv(sock, 1 << 20):
        data += chunk
    return data


def proxy_buffered(proxy: ProxyServer) -> int:
    """Bytes the proxy's transports hold for their clients, not yet taken by the clients' sockets."""
    assert proxy.runner is not None and proxy.runner.server is not None
    transports = (handler.transport for handler in proxy.runner.server.connections)
    return sum(t.get_write_buffer_size() for t in transports if t is not None)


async def upstream_settled(mock: MockControl) -> int:
    """The bytes the mock streamed once it stopped advancing (1 s without a byte) or sent everything."""
    sent, unchanged = -1, 0
    while unchanged < 20 and sent < ANSWER_BYTES:
        await asyncio.sleep(0.05)
        now = (await mock.stats())["stream_bytes"]
        unchanged = unchanged + 1 if now == sent else 0
        sent = now
    return int(sent)


async def big_answers(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, total_seconds: float
) -> tuple[ProxyServer, MockControl]:
    mock = await mock_upstream_factory()
    await mock.set_faults("mock-model", repeat_reply=REPEAT)
    timeouts = Timeouts(total_seconds=total_seconds)
    provider = provider_config("p0", "openai", mock.base_url, circuit_breaker=TOUCHY, timeouts=timeouts)
    return await proxy_server(proxy_config([provider])), mock


async def test_a_reader_that_stops_holds_the_upstream_back_and_the_proxys_buffer_bounded(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    proxy, mock = await big_answers(mock_upstream_factory, proxy_server, total_seconds=300)
    sock = await slow_client(proxy, request(stream=True))
    try:
        assert (await receive(sock, 12)).startswith(b"HTTP/1.1 200")
        sent = await upstream_settled(mock)
        assert sent < ANSWER_BYTES // 2, f"the proxy read {sent} bytes of the upstream for a client that reads none"
        assert proxy_buffered(proxy) <= BUFFER_BOUND
        for _ in range(16):  # now read very slowly: the stream moves on, the buffer stays bounded
            assert len(await receive(sock, 16384)) == 16384
            assert proxy_buffered(proxy) <= BUFFER_BOUND
            await asyncio.sleep(0.01)
    finally:
        sock.close()
    lines = await wait_for_access_lines(caplog, 1)
    assert [line.split()[2] for line in lines] == ["499"], lines
    assert circuits(proxy) == {"p0": ("closed", 0.0)}
    assert await upstream_error_count(proxy, "p0") == 0


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "complete"])
async def test_a_reader_too_slow_for_the_total_timeout_ends_as_499_without_hurting_the_provider(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, caplog: pytest.LogCaptureFixture, stream: bool
) -> None:
    caplog.set_level(logging.INFO)
    proxy, _ = await big_answers(mock_upstream_factory, proxy_server, total_seconds=2)
    sock = await slow_client(proxy, request(stream=stream))
    try:
        lines = await wait_for_access_lines(caplog, 1, timeout_s=30)  # the client has read nothing so far
        assert [line.split()[2] for line in lines] == ["499"], lines
        assert "provider=p0" in lines[0]
        assert proxy_buffered(proxy) <= BUFFER_BOUND  # what it held for the client is gone with the connection
        answer = await asyncio.wait_for(receive_all(sock), 30)  # the proxy closed the connection
        assert len(answer) < ANSWER_BYTES
    finally:
        sock.close()
    assert circuits(proxy) == {"p0": ("closed", 0.0)}
    assert await upstream_error_count(proxy, "p0") == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
