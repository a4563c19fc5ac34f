"""Clients that abort can never hurt a provider (raw sockets: the real HTTP interface, cut anywhere).

Breakers here open at the first failure, so any abort blamed on the upstream would show.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchboard.api.provider import CircuitBreaker
from switchboard.mock.harness import MockControl
from tests.fixtures.proxy import ProxyFactory, ProxyServer, SdkClient, provider_config, proxy_config
from tests.fixtures.upstream import MockFactory
from tests.hardening.checks import metrics_text, open_upstream_connections, upstream_error_count

TOUCHY = CircuitBreaker(consecutive_failures=1, minimum_requests=1, failure_rate_threshold=0.01)
WORDS = "one two three four five six seven eight nine ten"
ACCESS = "switchboard.proxy.access"


@dataclass(frozen=True)
class Abort:
    """One client request cut off: what it asked for, where it stopped, and how (RST or FIN)."""

    kind: str  # "stream", "chat" or "embeddings"
    point: str  # "mid-body", "waiting", "headers" or "mid-stream"
    delay_ms: int
    hard: bool


def _request(kind: str) -> tuple[str, dict[str, object]]:
    if kind == "embeddings":
        return "/v1/embeddings", {"model": "mock-model", "input": WORDS}
    body: dict[str, object] = {"model": "mock-model", "messages": [{"role": "user", "content": WORDS}]}
    return "/v1/chat/completions", {**body, "stream": kind == "stream"}


async def send_and_abort(proxy: ProxyServer, abort: Abort) -> None:
    """Send the request over a raw socket and cut the connection at ``abort.point``."""
    url = urlsplit(proxy.base_url)
    path, body = _request(abort.kind)
    data = orjson.dumps(body)
    head = f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(data)}\r\n\r\n"
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        if abort.point == "mid-body":
            writer.write(head.encode() + data[: len(data) // 2])
            await writer.drain()
            await asyncio.sleep(abort.delay_ms / 1000)
            return
        writer.write(head.encode() + data)
        await writer.drain()
        if abort.point == "waiting":
            await asyncio.sleep(abort.delay_ms / 1000)
        elif abort.point == "headers":
            await reader.readuntil(b"\r\n\r\n")
        else:
            await reader.readuntil(b"\r\n\r\n")
            await reader.read(1 + abort.delay_ms)  # some bytes of the body (the stream's first events)
    finally:
        if abort.hard:
            writer.transport.abort()  # RST
        else:
            writer.close()  # FIN


def circuits(proxy: ProxyServer) -> dict[str, tuple[str, float]]:
    assert proxy.runtime is not None
    health = proxy.runtime.router.provider_health()
    return {name: (h.circuit, h.error_rate) for name, h in health.items()}


async def wait_for_access_lines(caplog: pytest.LogCaptureFixture, count: int, timeout_s: float = 10.0) -> list[str]:
    """The access log lines once ``count`` requests were logged (each request is logged exactly once)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    lines: list[str] = []
    while loop.time() < end:
        lines = [r.getMessage() for r in caplog.records if r.name == ACCESS]
        if len(lines) >= count:
            break
        await asyncio.sleep(0.02)
    return lines


async def _quiet(proxy: ProxyServer) -> None:
    """Until no upstream connection is checked out: every aborted attempt has ended."""
    for _ in range(500):
        if open_upstream_connections(proxy) == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("upstream connections still in use after the clients left")


@pytest.fixture
async def slow_pair(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory
) -> AsyncIterator[tuple[ProxyServer, list[MockControl]]]:
    """Two healthy but slow providers in failover order, with breakers that open at the first failure."""
    mocks = [await mock_upstream_factory() for _ in range(2)]
    for mock in mocks:
        await mock.set_faults("mock-model", latency_ms=60, latency_per_token_ms=15)
    providers = [provider_config(f"p{i}", "openai", m.base_url, circuit_breaker=TOUCHY) for i, m in enumerate(mocks)]
    yield await proxy_server(proxy_config(providers)), mocks


async def test_aborted_streams_never_open_a_healthy_providers_circuit(
    slow_pair: tuple[ProxyServer, list[MockControl]], sdk_client: SdkClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    proxy, mocks = slow_pair
    aborts = [Abort("stream", point, 5, hard) for point in ("headers", "mid-stream") for hard in (True, False)] * 3
    for abort in aborts:
        await send_and_abort(proxy, abort)
    lines = await wait_for_access_lines(caplog, len(aborts))
    await _quiet(proxy)
    assert len(lines) == len(aborts)
    assert all(" 499 " in line and "provider=p0" in line for line in lines), lines
    assert circuits(proxy) == {"p0": ("closed", 0.0), "p1": ("closed", 0.0)}
    assert await upstream_error_count(proxy, "p0") == 0
    assert (await mocks[1].stats())["total"] == 0  # never failed over
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert (
        'switchboard_requests_total{endpoint="chat/completions",profile="default",provider="p0",status="499"} 12.0'
        in (await metrics_text(proxy))
    )
    reply = await sdk_client(proxy).chat.completions.create(
        model="mock-model", messages=[{"role": "user", "content": "ok"}]
    )
    assert reply.choices[0].message.content == "ok"


async def test_a_client_leaving_a_waiting_request_cancels_the_upstream_call_at_once(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    mocks = [await mock_upstream_factory() for _ in range(2)]
    await mocks[0].set_faults("mock-model", latency_ms=30_000)
    providers = [provider_config(f"p{i}", "openai", m.base_url, circuit_breaker=TOUCHY) for i, m in enumerate(mocks)]
    proxy = await proxy_server(proxy_config(providers))
    for kind in ("chat", "embeddings", "stream"):
        await send_and_abort(proxy, Abort(kind, "waiting", 300, hard=False))
    lines = await wait_for_access_lines(caplog, 3)
    await _quiet(proxy)  # long before the upstream's 30 s answer: the call was cancelled
    assert [line.split()[2] for line in lines] == ["499"] * 3, lines
    assert all("provider=p0" in line for line in lines), lines  # the provider that was serving it
    assert circuits(proxy) == {"p0": ("closed", 0.0), "p1": ("closed", 0.0)}
    assert (await mocks[0].stats())["total"] == 3
    assert (await mocks[1].stats())["total"] == 0  # no retry, no failover after the client left
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


abort_strategy = st.builds(
    Abort,
    kind=st.sampled_from(["stream", "chat", "embeddings"]),
    point=st.sampled_from(["mid-body", "waiting", "headers", "mid-stream"]),
    delay_ms=st.integers(0, 120),
    hard=st.booleans(),
)


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(aborts=st.lists(abort_strategy, min_size=1, max_size=6))
async def test_any_aborts_leave_every_circuit_closed_and_error_rates_zero(
    slow_pair: tuple[ProxyServer, list[MockControl]], caplog: pytest.LogCaptureFixture, aborts: list[Abort]
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS)
    proxy, _ = slow_pair
    logged = len([r for r in caplog.records if r.name == ACCESS])
    await asyncio.gather(*(send_and_abort(proxy, abort) for abort in aborts))
    assert len(await wait_for_access_lines(caplog, logged + len(aborts))) == logged + len(aborts)
    await _quiet(proxy)
    assert circuits(proxy) == {"p0": ("closed", 0.0), "p1": ("closed", 0.0)}
    assert await upstream_error_count(proxy, "p0") == await upstream_error_count(proxy, "p1") == 0
