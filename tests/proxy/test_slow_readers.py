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
from aiohttp.base_protocol import BaseProtocol
from aiohttp.test_utils import make_mocked_request

from switchboard.api.provider import Timeouts
from switchboard.mock.harness import MockControl
from switchboard.proxy.http.common import takes_without_waiting
from tests.fixtures.proxy import ProxyFactory, ProxyServer, provider_config, proxy_config
from tests.fixtures.upstream import MockFactory
from tests.hardening.checks import upstream_error_count
from tests.proxy.test_client_aborts import ACCESS, TOUCHY, circuits, wait_for_access_lines

TOKEN = "x" * 65536  # one token of 64 KiB: every stream event carries that much
REPEAT = 512
ANSWER_BYTES = len(TOKEN) * REPEAT  # 32 MiB of content
BUFFER_BOUND = 1024 * 1024
"""What the proxy may hold for one client: aiohttp drains every 64 KiB and the transport pauses
at its high-water mark (64 KiB), plus the one upstream chunk in hand; 1 MiB is a generous ceiling."""


def request(*, stream: bool) -> dict[str, object]:
    return {"model": "mock-model", "messages": [{"role": "user", "content": TOKEN}], "stream": stream}


async def slow_client_socket(proxy: ProxyServer) -> socket.socket:
    """A raw connection whose 4 KiB receive buffer (set before connecting: the TCP window) it never empties itself."""
    url = urlsplit(proxy.base_url)
    assert url.hostname is not None and url.port is not None
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (url.hostname, url.port))
    return sock


async def slow_client(proxy: ProxyServer, body: dict[str, object]) -> socket.socket:
    """A slow client that sent one request."""
    sock = await slow_client_socket(proxy)
    url = urlsplit(proxy.base_url)
    loop = asyncio.get_running_loop()
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
    """What arrives until the proxy closes the connection (an abort with bytes unread resets it)."""
    loop = asyncio.get_running_loop()
    data = b""
    try:
        while chunk := await loop.sock_recv(sock, 1 << 20):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def access_lines_until(caplog: pytest.LogCaptureFixture, status: str) -> list[str]:
    """The access log lines up to and including the first one with ``status``; none while there is none."""
    lines = [r.getMessage() for r in caplog.records if r.name == ACCESS]
    found = next((i for i, line in enumerate(lines) if line.split()[2] == status), None)
    return [] if found is None else lines[: found + 1]


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
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, total_seconds: float, first_byte_seconds: float = 60
) -> tuple[ProxyServer, MockControl]:
    mock = await mock_upstream_factory()
    await mock.set_faults("mock-model", repeat_reply=REPEAT)
    timeouts = Timeouts(total_seconds=total_seconds, first_byte_seconds=first_byte_seconds)
    provider = provider_config("p0", "openai", mock.base_url, circuit_breaker=TOUCHY, timeouts=timeouts)
    return await proxy_server(proxy_config([provider])), mock


@pytest.mark.parametrize("first_byte_seconds", [60, 1.0], ids=["default", "short-silence-bound"])
async def test_a_reader_that_stops_holds_the_upstream_back_and_the_proxys_buffer_bounded(
    mock_upstream_factory: MockFactory,
    proxy_server: ProxyFactory,
    caplog: pytest.LogCaptureFixture,
    first_byte_seconds: float,
) -> None:
    """The upstream waits on the client, which is no silence of the upstream's: with a ``firstByteSeconds``
    shorter than that wait (a second without progress, then twice the bound), the stream still moves on when
    the client reads again."""
    caplog.set_level(logging.INFO)
    proxy, mock = await big_answers(mock_upstream_factory, proxy_server, 300, first_byte_seconds)
    sock = await slow_client(proxy, request(stream=True))
    try:
        assert (await receive(sock, 12)).startswith(b"HTTP/1.1 200")
        sent = await upstream_settled(mock)
        assert sent < ANSWER_BYTES // 2, f"the proxy read {sent} bytes of the upstream for a client that reads none"
        assert proxy_buffered(proxy) <= BUFFER_BOUND
        if first_byte_seconds < 2:
            await asyncio.sleep(2 * first_byte_seconds)
        for _ in range(16):  # now read very slowly: the stream moves on, the buffer stays bounded
            assert len(await receive(sock, 16384)) == 16384
            assert proxy_buffered(proxy) <= BUFFER_BOUND
            await asyncio.sleep(0.01)
        assert not [r for r in caplog.records if r.name == ACCESS], "the stream ended before the client left"
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


async def test_a_pipelining_client_that_reads_no_answer_holds_a_bounded_buffer_and_ends_as_499(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Complete answers a client does not take pile up in the proxy only up to the transport's bound.

    The client sends its requests back to back (HTTP/1.1 pipelining) and reads none of the answers.
    Small answers go out in one write without a timer only while that cannot wait on the client; once
    the sockets on the way are full, the next answer waits for the client within ``totalSeconds``
    like a large one, and the client is gone: 499, connection closed, the provider not blamed.
    """
    caplog.set_level(logging.INFO)
    mock = await mock_upstream_factory()
    await mock.set_faults("mock-model", repeat_reply=16)
    timeouts = Timeouts(total_seconds=2)
    provider = provider_config("p0", "openai", mock.base_url, circuit_breaker=TOUCHY, timeouts=timeouts)
    proxy = await proxy_server(proxy_config([provider]))
    # ~40 KiB answers: one write each while the transport holds less than ~8 KiB; 200 of them are
    # 8 MiB, more than the sockets on the way buffer (Linux grows a send buffer up to 4 MiB).
    body = orjson.dumps({"model": "mock-model", "messages": [{"role": "user", "content": "word " * 512}]})
    url = urlsplit(proxy.base_url)
    head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
    one = f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
    sock = await slow_client_socket(proxy)
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_sendall(sock, one * 200)  # none of the answers read
        end = loop.time() + 60
        while not (lines := access_lines_until(caplog, "499")):
            assert loop.time() < end, "no 499 in the access log after 60 s"
            assert proxy_buffered(proxy) <= BUFFER_BOUND
            await asyncio.sleep(0.05)
        assert [line.split()[2] for line in lines[:-1]] == ["200"] * (len(lines) - 1), lines
        assert "provider=p0" in lines[-1]
        answer = await asyncio.wait_for(receive_all(sock), 30)  # the proxy closed the connection
        assert answer.count(b"HTTP/1.1 200") < 200
    finally:
        sock.close()
    assert proxy_buffered(proxy) <= BUFFER_BOUND
    assert circuits(proxy) == {"p0": ("closed", 0.0)}
    assert await upstream_error_count(proxy, "p0") == 0


async def test_only_an_open_unpaused_connection_takes_a_complete_answer_in_one_unsent_write() -> None:
    """A small answer is handed to aiohttp unsent only where its one write can neither wait nor fail; anything
    else (too large, a client that has not taken earlier answers, a connection closing) is written in chunks,
    under the attempt's time limit, where a failed write is the client's 499."""
    loop = asyncio.get_running_loop()
    server = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, protocol = await loop.create_connection(lambda: BaseProtocol(loop), "127.0.0.1", port)
    try:
        request = make_mocked_request("POST", "/v1/chat/completions", transport=transport)
        assert takes_without_waiting(request, 4096)
        assert not takes_without_waiting(request, transport.get_write_buffer_limits()[1])
        protocol.pause_writing()
        assert not takes_without_waiting(request, 4096)
        protocol.resume_writing()
        assert takes_without_waiting(request, 4096)
        transport.close()
        assert not takes_without_waiting(request, 4096)
    finally:
        transport.close()
        server.close()
        await server.wait_closed()
