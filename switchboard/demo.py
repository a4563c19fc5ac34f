"""``python -m switchboard.demo`` (``make run-standalone``): the standalone proxy, end to end.

Starts a mock upstream on every loopback port that ``examples/standalone.yaml``
points at, then the proxy on that file (hot reloaded: edit it while it runs),
waits until it is ready, prints what to paste, and runs until Ctrl-C.
"""

import argparse
import asyncio
import os
import signal
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from switchboard.api.config import ConfigError, ProxyConfig, load_config
from switchboard.mock.server import make_app as make_mock_app
from switchboard.mock.state import MockOptions
from switchboard.proxy.app import create_app
from switchboard.proxy.config_source import FileSource
from switchboard.proxy.http.app_keys import RUNTIME

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "standalone.yaml"
READY_TIMEOUT_SECONDS = 30.0


def mock_upstreams(config: ProxyConfig) -> dict[int, str | None]:
    """Loopback port -> the API key its provider sends (read from the env var, set if missing)."""
    ports: dict[int, str | None] = {}
    for provider in config.providers:
        url = urlsplit(provider.effective_base_url)
        if url.hostname != "127.0.0.1" or url.port is None:
            continue
        key = None
        if provider.api_key is not None and provider.api_key.env:
            key = os.environ.setdefault(provider.api_key.env, f"demo-key-{provider.name}")
        ports[url.port] = key
    return ports


async def start_site(app: web.Application, port: int, stack: AsyncExitStack) -> int:
    runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return int(runner.addresses[0][1])


def instructions(base: str) -> str:
    return f"""
Switchboard is ready on {base}  (config: {EXAMPLE}, hot reloaded)

  curl -s {base}/v1/chat/completions -H 'Content-Type: application/json' \\
    -d '{{"model": "gpt-4o-mini", "messages": [{{"role": "user", "content": "Hello Switchboard"}}]}}'

  python - <<'PY'
from openai import OpenAI
client = OpenAI(base_url="{base}/v1", api_key="unused")
reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{{"role": "user", "content": "Hi"}}])
print(reply.choices[0].message.content)
PY

Also: {base}/v1/models  {base}/metrics  {base}/readyz
      curl -s {base}/v1/routing/explain -d '{{"model": "gpt-4o-mini"}}'
Ctrl-C to stop.
"""


async def run(port: int) -> None:
    config = load_config(EXAMPLE.read_text())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with AsyncExitStack() as stack:
        for mock_port, key in mock_upstreams(config).items():
            await start_site(make_mock_app(MockOptions(api_key=key)), mock_port, stack)
        proxy = create_app(FileSource(EXAMPLE))
        bound = await start_site(proxy, port, stack)
        runtime = proxy[RUNTIME]
        for _ in range(int(READY_TIMEOUT_SECONDS / 0.1)):
            if runtime.ready:
                break
            await asyncio.sleep(0.1)
        else:
            raise SystemExit(f"proxy did not become ready: {runtime.not_ready_reason}")
        print(instructions(f"http://127.0.0.1:{bound}"), flush=True)
        await stop.wait()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m switchboard.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080, help="proxy port (0 picks a free one)")
    args = parser.parse_args()
    try:
        asyncio.run(run(args.port))
    except (ConfigError, OSError) as e:
        print(f"demo: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
