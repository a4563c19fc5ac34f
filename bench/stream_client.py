"""Streamed chat completions at a fixed concurrency; prints TTFT and total percentiles as JSON.

No maintained load generator reports the time to the first SSE event, so this
one is small and does nothing else: ``concurrency`` keep-alive clients, each
sending the next request when the last stream ended, for ``seconds``.

The first token is the first event whose delta carries output (content or a
tool call), not the first bytes: an upstream's role-only preamble comes before
any token, and a proxy that holds it back until it can commit to an attempt
(Switchboard does, to fail over invisibly) delays nothing a reader sees. A
stream counts only if it ends with ``data: [DONE]``.
Usage: ``python -m bench.stream_client URL MODEL CONCURRENCY SECONDS``.
"""

import asyncio
import json
import statistics
import sys
import time

import aiohttp
import orjson
import uvloop

DONE = b"data: [DONE]"


def carries_token(event: bytes) -> bool:
    """Whether one ``data: {chunk}`` event has a choice whose delta holds content or a tool call."""
    if not event.startswith(b"data: {"):
        return False
    try:
        payload = orjson.loads(event[6:])
    except orjson.JSONDecodeError:
        return False
    for choice in payload.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content") or delta.get("tool_calls"):
            return True
    return False


class FirstToken:
    """Fed the body as it arrives; ``seen`` once an event carrying a token went by."""

    def __init__(self) -> None:
        self._buffer = b""
        self.seen = False

    def feed(self, chunk: bytes) -> None:
        self._buffer = (self._buffer + chunk).replace(b"\r\n", b"\n")
        *events, self._buffer = self._buffer.split(b"\n\n")
        self.seen = any(carries_token(event) for event in events)
        if self.seen:
            self._buffer = b""


async def _one(session: aiohttp.ClientSession, url: str, body: bytes) -> tuple[float, float] | None:
    """(time to the first token, total) of one stream, or None when it failed or ended without ``[DONE]``."""
    began = time.perf_counter()
    first = None
    tail = b""
    scanner = FirstToken()
    async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
        async for chunk in response.content.iter_any():
            if first is None:
                scanner.feed(chunk)
                if scanner.seen:
                    first = time.perf_counter() - began
            tail = (tail + chunk)[-64:]
        if response.status != 200 or first is None or DONE not in tail:
            return None
    return first, time.perf_counter() - began


async def _client(
    session: aiohttp.ClientSession, url: str, body: bytes, end: float, out: dict[str, list[float]]
) -> None:
    while time.monotonic() < end:
        try:
            timing = await _one(session, url, body)
        except aiohttp.ClientError:
            timing = None
        if timing is None:
            out["errors"].append(1.0)
        else:
            out["ttft"].append(timing[0])
            out["total"].append(timing[1])


def _pct(samples: list[float], q: int) -> float | None:
    if len(samples) < 2:
        return samples[0] * 1000 if samples else None
    return statistics.quantiles(samples, n=100)[q - 1] * 1000


async def run(url: str, model: str, concurrency: int, seconds: float) -> dict[str, float | None]:
    body = json.dumps({"model": model, "stream": True, "messages": [{"role": "user", "content": "stream a reply"}]})
    out: dict[str, list[float]] = {"ttft": [], "total": [], "errors": []}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        end = time.monotonic() + seconds
        await asyncio.gather(*(_client(session, url, body.encode(), end, out) for _ in range(concurrency)))
    return {
        "streams": len(out["ttft"]),
        "errors": len(out["errors"]),
        "ttft_p50_ms": _pct(out["ttft"], 50),
        "ttft_p99_ms": _pct(out["ttft"], 99),
        "total_p50_ms": _pct(out["total"], 50),
        "total_p99_ms": _pct(out["total"], 99),
    }


def main() -> None:
    url, model, concurrency, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        print(json.dumps(runner.run(run(url, model, concurrency, seconds))))


if __name__ == "__main__":
    main()
