"""A provider's connection pool is shared by every client of that provider: a cookie one
upstream answer set must never be sent upstream again on anyone's request."""

from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web

from tests.fixtures.proxy import ProxyFactory, SdkClient, provider_config, proxy_config


@pytest.fixture
async def cookie_upstream() -> AsyncIterator[tuple[str, list[str | None]]]:
    """An OpenAI-compatible upstream that sets a session cookie and records each request's Cookie header."""
    seen: list[str | None] = []

    async def chat(request: web.Request) -> web.Response:
        await request.read()
        seen.append(request.headers.get("Cookie"))
        answer = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "mock-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        response = web.Response(body=orjson.dumps(answer), content_type="application/json")
        response.set_cookie("session", f"client-{len(seen)}-secret", path="/")
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://localhost:{runner.addresses[0][1]}", seen  # a name: cookie jars refuse IP hosts
    await runner.cleanup()


async def test_an_upstream_cookie_never_rides_along_on_later_requests(
    cookie_upstream: tuple[str, list[str | None]], proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    base, seen = cookie_upstream
    proxy = await proxy_server(proxy_config([provider_config("cookies", "openai", base)]))
    for _ in range(3):  # one pooled session (and connection) serves all three
        answer = await sdk_client(proxy).chat.completions.create(
            model="mock-model", messages=[{"role": "user", "content": "hi"}]
        )
        assert answer.choices[0].message.content == "ok"
    assert seen == [None, None, None]
