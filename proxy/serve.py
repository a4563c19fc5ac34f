"""Run an app on a socket until SIGINT/SIGTERM, then shut down gracefully."""

import asyncio
import logging
import signal

from aiohttp import web

log = logging.getLogger("switchboard.proxy")

SHUTDOWN_GRACE_SECONDS = 10.0


async def serve(app: web.Application, host: str, port: int, *, reuse_port: bool = False) -> None:
    runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_GRACE_SECONDS, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
    await site.start()
    bound = runner.addresses[0]
    # Parsed by the test fixtures and the demo: keep the format stable.
    print(f"switchboard-proxy listening on http://{bound[0]}:{bound[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await runner.cleanup()
