"""Serve an aiohttp app until SIGINT/SIGTERM: the run loop of the proxy and mock CLIs."""

import asyncio
import logging
import signal

from aiohttp import web

log = logging.getLogger(__name__)


async def serve_until_signalled(
    app: web.Application,
    host: str,
    port: int,
    *,
    name: str,
    shutdown_timeout: float,
    reuse_port: bool = False,
    handler_cancellation: bool = False,
) -> None:
    """Bind ``host:port``, announce the bound URL on stdout, serve until a signal, then shut down.

    The line ``{name} listening on http://HOST:PORT`` is parsed by the test
    fixtures, the demo, the benchmarks and ``make run`` (port 0 picks one):
    keep its format stable. No access log here: the proxy logs requests in
    its own request lifecycle. ``handler_cancellation``: a client that disconnects
    cancels its request's handler.
    """
    runner = web.AppRunner(
        app, shutdown_timeout=shutdown_timeout, access_log=None, handler_cancellation=handler_cancellation
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
    await site.start()
    bound = runner.addresses[0]
    print(f"{name} listening on http://{bound[0]}:{bound[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("%s shutting down", name)
        await runner.cleanup()
