"""The streaming failover contract, one test per cell of the matrix in docs/routing.md.

Provider ``first`` has the fault, ``second`` is healthy; the client is the official
openai SDK. Before the commit (the first content or tool-call chunk) every failure
fails over: the client gets the whole answer from ``second``. After it, the client
gets the partial answer, one error event and ``[DONE]``. Either way the failure is
counted against ``first`` (its breaker opens at one failure here), never ``second``.
"""

import socket
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest

from switchboard.api.provider import CircuitBreaker, Timeouts
from tests.fixtures.proxy import ProxyFactory, ProxyServer, SdkClient, provider_config, proxy_config
from tests.fixtures.upstream import MockFactory
from tests.hardening.checks import upstream_error_count

TOUCHY = CircuitBreaker(consecutive_failures=1, minimum_requests=1, failure_rate_threshold=0.01)
PROMPT = "alpha beta gamma delta epsilon zeta eta theta"


@dataclass(frozen=True)
class Cell:
    fault: str
    faults: dict[str, Any] = field(default_factory=dict)
    timeouts: Timeouts = field(default_factory=Timeouts)
    family: str = "openai"
    refused: bool = False  # ``first`` points at a port nobody listens on


BEFORE_COMMIT = [
    Cell("HTTP 5xx", {"status": 503}),
    Cell("HTTP 429", {"status": 429, "retry_after": "0"}),
    Cell("connect error", refused=True),
    Cell("in-band error event (OpenAI error object)", {"error_event_after": 1}),
    Cell("in-band error event (Anthropic overloaded_error)", {"error_event_after": 1}, family="anthropic"),
    Cell("stream cut by the upstream", {"cut_stream_after": 1}),
    Cell("malformed event", {"malformed": "sse"}),
    Cell("firstTokenSeconds passed", {"latency_per_token_ms": 3000}, Timeouts(first_token_seconds=0.3)),
    Cell("totalSeconds passed", {"hang": True}, Timeouts(total_seconds=0.3)),
    Cell("silence past firstByteSeconds", {"latency_per_token_ms": 3000}, Timeouts(first_byte_seconds=0.3)),
]
# Paced (a pause between events) so the events before the fault reach the client in reads of their own:
# a fault in the same read as the first output is still before the commit and fails over.
PACED = {"latency_per_token_ms": 40}
AFTER_COMMIT = [
    Cell("in-band error event (OpenAI error object)", {"error_event_after": 3, **PACED}),
    Cell("in-band error event (Anthropic overloaded_error)", {"error_event_after": 4, **PACED}, family="anthropic"),
    Cell("stream cut by the upstream", {"cut_stream_after": 3, **PACED}),
    Cell("malformed event", {"malformed": "sse", "malformed_after": 3, **PACED}),
    Cell("silence past firstByteSeconds", {"stall_after": 3}, Timeouts(first_byte_seconds=0.3)),
    Cell("totalSeconds passed", {"latency_per_token_ms": 250}, Timeouts(total_seconds=0.6)),
]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _proxy(cell: Cell, mock_upstream_factory: MockFactory, proxy_server: ProxyFactory) -> ProxyServer:
    faulty, healthy = await mock_upstream_factory(), await mock_upstream_factory()
    if cell.faults:
        await faulty.set_faults("mock-model", **cell.faults)
    base = f"http://127.0.0.1:{_closed_port()}" if cell.refused else faulty.base_url
    first = provider_config("first", cell.family, base, key_env=None, timeouts=cell.timeouts, circuit_breaker=TOUCHY)
    second = provider_config("second", "openai", healthy.base_url, circuit_breaker=TOUCHY)
    return await proxy_server(proxy_config([first, second]))


async def _stream(client: openai.AsyncOpenAI) -> Any:
    return await client.chat.completions.with_raw_response.create(
        model="mock-model", messages=[{"role": "user", "content": PROMPT}], stream=True
    )


async def _blames_first_only(proxy: ProxyServer) -> None:
    """One failure counted against ``first``, none against ``second``; ``first``'s breaker opened."""
    assert await upstream_error_count(proxy, "first") == 1
    assert await upstream_error_count(proxy, "second") == 0
    assert proxy.runtime is not None
    circuits = {name: h.circuit for name, h in proxy.runtime.router.provider_health().items()}
    assert circuits == {"first": "open", "second": "closed"}


@pytest.mark.parametrize("cell", BEFORE_COMMIT, ids=lambda c: c.fault)
async def test_before_the_commit_every_failure_fails_over(
    cell: Cell, mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    proxy = await _proxy(cell, mock_upstream_factory, proxy_server)
    raw = await _stream(sdk_client(proxy))
    assert (raw.headers["x-switchboard-provider"], raw.headers["x-switchboard-attempts"]) == ("second", "2")
    text = "".join([c.choices[0].delta.content or "" async for c in raw.parse() if c.choices])
    assert text == PROMPT  # the whole answer, nothing of the failed attempt
    await _blames_first_only(proxy)


@pytest.mark.parametrize("cell", AFTER_COMMIT, ids=lambda c: c.fault)
async def test_after_the_commit_the_client_gets_one_error_event_then_done(
    cell: Cell, mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    proxy = await _proxy(cell, mock_upstream_factory, proxy_server)
    raw = await _stream(sdk_client(proxy))
    assert raw.headers["x-switchboard-provider"] == "first"
    received = []
    with pytest.raises(openai.APIError, match="stream interrupted"):
        async for chunk in raw.parse():
            received.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    text = "".join(received)
    assert text and PROMPT.startswith(text) and text != PROMPT  # a true prefix: what came before the failure
    await _blames_first_only(proxy)
