"""Run the mock in-process or as a subprocess and steer it over its control API.

Used by the pytest fixtures, the demo and the benchmarks. Both forms expose the
same ``MockControl`` so a test does not care which one it got.
"""

import asyncio
import re
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from switchboard.mock.server import make_app
from switchboard.mock.state import ANY_MODEL, MockOptions

_LISTENING = re.compile(rb"listening on (http://\S+)")
START_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class MockControl:
    """A running mock: its base URL and the control API as async helpers."""

    base_url: str

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        async with aiohttp.ClientSession() as session, session.request(method, self.base_url + path, **kwargs) as resp:
            data = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"mock control {method} {path} failed with {resp.status}: {data}")
            return data

    async def set_faults(self, model: str = ANY_MODEL, **fields: Any) -> dict[str, Any]:
        """Replace the faults of ``model`` (``*`` for every model), e.g. ``status=503``."""
        result: dict[str, Any] = await self._call("POST", "/_mock/faults", json={"model": model, **fields})
        return result

    async def clear_faults(self, model: str | None = None) -> None:
        await self._call("DELETE", "/_mock/faults", params={"model": model} if model else None)

    async def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", "/_mock/stats")
        return result

    async def requests(self, model: str | None = None) -> list[dict[str, Any]]:
        """Bodies the mock received most recently (what the upstream really saw)."""
        result: list[dict[str, Any]] = await self._call(
            "GET", "/_mock/requests", params={"model": model} if model else None
        )
        return result

    async def set_engine_load(self, *, waiting: float | None = None, kv_cache_usage: float | None = None) -> None:
        """What the vLLM-style ``/metrics`` reports as queued requests and KV-cache usage."""
        body: dict[str, float] = {}
        if waiting is not None:
            body["waiting"] = waiting
        if kv_cache_usage is not None:
            body["kvCacheUsage"] = kv_cache_usage
        await self._call("POST", "/_mock/metrics", json=body)

    async def reset_stats(self) -> None:
        await self._call("DELETE", "/_mock/stats")


@asynccontextmanager
async def run_in_process(options: MockOptions | None = None, host: str = "127.0.0.1") -> AsyncIterator[MockControl]:
    """Serve the mock on a free loopback port inside the current event loop."""
    runner = web.AppRunner(make_app(options), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    try:
        yield MockControl(f"http://{host}:{runner.addresses[0][1]}")
    finally:
        await runner.cleanup()


@asynccontextmanager
async def run_subprocess(
    args: Sequence[str] = (), *, env: Mapping[str, str] | None = None
) -> AsyncIterator[MockControl]:
    """Start the mock CLI on port 0 as its own process (independent of the test's event loop).

    ``env`` is the child's whole environment (default: inherited); tests pass
    one whose ``PYTHONPATH`` names the checkout under test.
    """
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switchboard.mock", "--port", "0", *args, env=env, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT_SECONDS)
        match = _LISTENING.search(line)
        if match is None:
            raise RuntimeError(f"switchboard-mock did not start: {line!r}")
        yield MockControl(match.group(1).decode())
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
