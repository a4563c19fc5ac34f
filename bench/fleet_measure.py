"""Fleet state-store figures: limit accuracy at 3 replicas, added latency, fail-open time.

Run: ``.venv/bin/python -m bench.fleet_measure`` (needs redis-server; everything on loopback).
Prints numbers only; nothing here asserts a speed.
"""

import asyncio
import re
import shutil
import signal
import socket
import statistics
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from hack.checkout import checkout_env, python_module

RPM = 300
BODY = {"model": "mock-model", "messages": [{"role": "user", "content": "hi"}]}
LISTENING = re.compile(rb"listening on (http://\S+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def spawn(stack: AsyncExitStack, *argv: str) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        *argv, env=checkout_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )

    async def stop() -> None:
        if process.returncode is None:
            process.send_signal(signal.SIGCONT)
            process.kill()
            await process.wait()

    stack.push_async_callback(stop)
    return process


async def start_proxy(stack: AsyncExitStack, config: Path, *args: str) -> str:
    process = await spawn(
        stack,
        *python_module("switchboard.proxy.cli", "--config", str(config), "--host", "127.0.0.1", "--port", "0", *args),
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    match = LISTENING.search(line)
    assert match, line
    return match.group(1).decode() + "/v1/chat/completions"


async def post(session: aiohttp.ClientSession, url: str) -> tuple[int, float]:
    began = time.perf_counter()
    async with session.post(url, json=BODY) as r:
        await r.read()
        return r.status, time.perf_counter() - began


async def burst(
    session: aiohttp.ClientSession, urls: list[str], n: int, concurrency: int = 16
) -> list[tuple[int, float]]:
    queue = list(range(n))
    out: list[tuple[int, float]] = []

    async def worker() -> None:
        while queue:
            i = queue.pop()
            out.append(await post(session, urls[i % len(urls)]))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> None:
    async with AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        redis_port, mock_port = free_port(), free_port()
        redis_server = shutil.which("redis-server") or "redis-server"
        redis_argv: tuple[str, ...] = (redis_server, "--port", str(redis_port), "--bind", "127.0.0.1")
        redis_argv += ("--save", "", "--appendonly", "no", "--dir", str(tmp))
        redis = await spawn(stack, *redis_argv)
        await spawn(stack, *python_module("switchboard.mock", "--port", str(mock_port)))
        await asyncio.sleep(1.0)
        provider: dict[str, Any] = {"name": "mock", "type": "openai", "baseUrl": f"http://127.0.0.1:{mock_port}/v1"}
        provider["models"] = [{"name": "mock-model"}]
        profile = {"name": "default", "models": ["mock-model"], "providers": [{"name": "mock"}]}
        limited = tmp / "limited.yaml"
        limited.write_text(
            yaml.safe_dump(
                {
                    "fleet": {"replicas": 3},
                    "providers": [provider],
                    "profiles": [{**profile, "rateLimit": {"requestsPerMinute": RPM}}],
                }
            )
        )
        roomy = tmp / "roomy.yaml"
        roomy.write_text(
            yaml.safe_dump(
                {"providers": [provider], "profiles": [{**profile, "rateLimit": {"requestsPerMinute": 10**9}}]}
            )
        )
        store = f"redis://127.0.0.1:{redis_port}/0"
        fleet = [
            await start_proxy(stack, limited, "--state-store", store, "--state-store-timeout", "0.5") for _ in range(3)
        ]
        local = [await start_proxy(stack, limited) for _ in range(3)]
        with_store = await start_proxy(stack, roomy, "--state-store", store)
        without = await start_proxy(stack, roomy)
        async with aiohttp.ClientSession() as session:
            for label, urls in (("one replica", fleet[:1]), ("spread", fleet), ("no store, one replica", local[:1])):
                flush = await asyncio.open_connection("127.0.0.1", redis_port)
                flush[1].write(b"FLUSHALL\r\n")
                await flush[1].drain()
                await flush[0].readline()
                flush[1].close()
                began = time.monotonic()
                results = await burst(session, urls, 2 * RPM)
                elapsed = time.monotonic() - began
                served = sum(1 for s, _ in results if s == 200)
                refill = elapsed * RPM / 60
                print(
                    f"accuracy [{label}]: limit {RPM}/min, served {served} of {2 * RPM} in {elapsed:.1f}s "
                    f"(refill during the run {refill:.1f}); "
                    f"error vs limit+refill {100 * (served - RPM - refill) / RPM:+.1f}%"
                )
            for label, url in (("with store", with_store), ("without store", without)):
                await burst(session, [url], 200, concurrency=1)
                times = [t for _, t in await burst(session, [url], 2000, concurrency=1)]
                print(
                    f"latency [{label}]: p50 {1000 * statistics.median(times):.2f} ms, "
                    f"p99 {1000 * pct(times, 0.99):.2f} ms"
                )
            # Fail-open: kill the store under load; the slowest request after the kill, and when all are fast again.
            load = asyncio.create_task(burst(session, [with_store], 3000, concurrency=8))
            await asyncio.sleep(0.5)
            killed = time.perf_counter()
            redis.send_signal(signal.SIGSTOP)  # hung store: the worst case (a dead one refuses at once)
            results = await load
            slow = [t for _, t in results]
            print(
                f"fail-open [hung store, timeout 0.05s]: {sum(1 for s, _ in results if s != 200)} failed "
                f"of {len(results)}; "
                f"slowest request {1000 * max(slow):.1f} ms; p99 {1000 * pct(slow, 0.99):.2f} ms "
                f"(store hung {time.perf_counter() - killed:.1f}s before the end)"
            )
            redis.send_signal(signal.SIGCONT)
            redis.kill()
            await redis.wait()
            results = await burst(session, [with_store], 1000, concurrency=8)
            slow = [t for _, t in results]
            print(
                f"fail-open [dead store]: {sum(1 for s, _ in results if s != 200)} failed of {len(results)}; "
                f"slowest {1000 * max(slow):.1f} ms; p99 {1000 * pct(slow, 0.99):.2f} ms"
            )


if __name__ == "__main__":
    asyncio.run(main())
