"""The ceiling for an aiohttp proxy: forward the body, return the answer, nothing else.

One pooled ``ClientSession``, the request body and the upstream's answer passed
through as bytes (streams chunk by chunk), no parsing, no logging, no metrics,
uvloop like the proxy. Whatever Switchboard does on top of this costs time that
this server does not spend, so its rate is what an aiohttp proxy can hope for.
Prints ``passthrough listening on http://HOST:PORT`` once bound.
"""

import argparse
import asyncio
from collections.abc import AsyncIterator

import aiohttp
import uvloop
from aiohttp import web

from switchboard.serving import serve_until_signalled

UPSTREAM = web.AppKey("upstream", str)
SESSION = web.AppKey("session", aiohttp.ClientSession)


async def forward(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    session = request.app[SESSION]
    url = request.app[UPSTREAM] + request.path
    headers = {"Content-Type": request.headers.get("Content-Type", "application/json")}
    async with session.post(url, data=body, headers=headers) as upstream:
        content_type = upstream.headers.get("Content-Type", "application/json")
        if not content_type.startswith("text/event-stream"):
            return web.Response(status=upstream.status, body=await upstream.read(), content_type="application/json")
        response = web.StreamResponse(status=upstream.status, headers={"Content-Type": content_type})
        await response.prepare(request)
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
        await response.write_eof()
        return response


async def _session(app: web.Application) -> AsyncIterator[None]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        app[SESSION] = session
        yield


def main() -> None:
    parser = argparse.ArgumentParser(prog="passthrough", description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="base URL, e.g. http://127.0.0.1:8090")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--reuse-port", action="store_true")
    args = parser.parse_args()
    app = web.Application()
    app[UPSTREAM] = args.upstream.rstrip("/")
    app.cleanup_ctx.append(_session)
    app.router.add_post("/{tail:.*}", forward)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(
            serve_until_signalled(
                app, "127.0.0.1", args.port, name="passthrough", shutdown_timeout=2.0, reuse_port=args.reuse_port
            )
        )


if __name__ == "__main__":
    main()
