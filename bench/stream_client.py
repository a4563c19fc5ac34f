"""Streamed chat completions at a fixed concurrency; prints TTFT and total percentiles as JSON.

No maintained load generator reports the time to the first SSE event, so this
one is small and does nothing else: ``concurrency`` keep-alive clients, each
sending the next request when the last stream ended, for ``seconds``.
Usage: ``python -m bench.stream_client URL MODEL CONCURRENCY SECONDS``.
"""

import asyncio
import json
import statistics
import sys
import time

import aiohttp
import uvloop


async def _client(
    session: aiohttp.ClientSession, url: str, body: bytes, end: float, out: dict[str, list[float]]
) -> None:
    headers = {"Content-Type": "application/json"}
    while time.monotonic() < end:
        began = time.perf_counter()
        first = None
        try:
            async with session.post(url, data=body, headers=headers) as response:
                async for _chunk in response.content.iter_any():
                    if first is None:
                        first = time.perf_counter() - began
                ok = response.status == 200 and first is not None
        except aiohttp.ClientError:
            ok = False
        if ok and first is not None:
            out["ttft"].append(first)
            out["total"].append(time.perf_counter() - began)
        else:
            out["errors"].append(1.0)


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
