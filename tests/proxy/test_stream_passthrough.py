"""Streamed chat through the proxy from an upstream that writes SSE in every legal shape.

The upstream here is a scripted aiohttp server (the mock always writes compact
``\\n``-terminated events): ``\\r\\n`` line ends, comments, an event's JSON spread
over two ``data:`` lines, bytes split mid-line across writes. Clients are the
openai SDK and a raw SSE reader. A chunk that needs no change (it already names the
public model, carries no usage) reaches the client as the upstream wrote it; any
other is re-encoded on one line with the public model.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web

from tests.fixtures.proxy import ProxyFactory, SdkClient, provider_config, proxy_config

Script = Callable[[str], list[bytes]]


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [choice]}


def spaced(payload: dict[str, Any]) -> bytes:
    """JSON as Python's json writes it (spaces after separators), unlike orjson's compact form."""
    return json.dumps(payload).encode()


def crlf_script(model: str) -> list[bytes]:
    """CRLF line ends, a comment, ``usage: null`` on every chunk, writes split mid-line and mid-CRLF."""
    events = [spaced(_chunk(model, {"role": "assistant", "content": ""}) | {"usage": None})]
    events += [spaced(_chunk(model, {"content": word}) | {"usage": None}) for word in ("Hello", " there")]
    events.append(spaced(_chunk(model, {}, "stop") | {"usage": None}))
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    events.append(
        spaced(
            {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": []}
            | {"usage": usage}
        )
    )
    body = b": keep-alive\r\n\r\n" + b"".join(b"data: " + e + b"\r\n\r\n" for e in events) + b"data: [DONE]\r\n\r\n"
    cut = body.index(b"Hello") + 2
    crlf = body.index(b"\r\n", cut) + 1  # between a \r and its \n
    return [body[:cut], body[cut:crlf], body[crlf:]]


def multiline_script(model: str) -> list[bytes]:
    """The first content chunk's JSON over two ``data:`` lines (a line break is JSON whitespace)."""
    role = b"data: " + spaced(_chunk(model, {"role": "assistant", "content": ""})) + b"\n\n"
    first = spaced(_chunk(model, {"content": "Hello"})).replace(b', "choices"', b',\ndata: "choices"')
    second = b"data: " + spaced(_chunk(model, {"content": " there"})) + b"\n\n"
    stop = b"data: " + spaced(_chunk(model, {}, "stop")) + b"\n\n"
    return [role, b"data: " + first + b"\n\n", second, stop + b"data: [DONE]\n\n"]


@pytest.fixture
async def scripted_upstream() -> AsyncIterator[Callable[[Script, str], str]]:
    """``scripted_upstream(script, model)`` -> the base URL of a server streaming ``script(model)``'s writes."""
    runners: list[web.AppRunner] = []

    async def start(script: Script, model: str) -> str:
        async def chat(request: web.Request) -> web.StreamResponse:
            await request.read()
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            for write in script(model):
                await response.write(write)
                await asyncio.sleep(0.01)  # each write reaches the proxy in a read of its own
            await response.write_eof()
            return response

        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start  # type: ignore[misc]
    for runner in runners:
        await runner.cleanup()


async def _raw_events(url: str) -> list[bytes]:
    body = {"model": "mock-model", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as session, session.post(url + "/v1/chat/completions", json=body) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/event-stream")
        assert answer.headers["X-Switchboard-Provider"] == "scripted"
        data = await answer.read()
    assert data.endswith(b"\n\n")
    return data[:-2].split(b"\n\n")


@pytest.mark.parametrize("script", [crlf_script, multiline_script], ids=["crlf-split", "multiline-data"])
@pytest.mark.parametrize("upstream_model", ["mock-model", "mock-model-2024-06-01"], ids=["same-name", "renamed"])
async def test_every_sse_shape_reaches_sdk_and_raw_clients_as_one_line_events_with_the_public_model(
    script: Script,
    upstream_model: str,
    scripted_upstream: Callable[..., Any],
    proxy_server: ProxyFactory,
    sdk_client: SdkClient,
) -> None:
    base = await scripted_upstream(script, upstream_model)
    upstream = provider_config("scripted", "openai", base, models=("mock-model",))
    proxy = await proxy_server(proxy_config([upstream]))

    stream = await sdk_client(proxy).chat.completions.create(
        model="mock-model", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello there"
    assert {c.model for c in chunks} == {"mock-model"}
    assert chunks[-1].choices[0].finish_reason == "stop"

    events = await _raw_events(proxy.base_url)
    assert events[-1] == b"data: [DONE]"
    payloads = [json.loads(e.removeprefix(b"data: ")) for e in events[:-1]]
    assert all(e.startswith(b"data: {") and b"\n" not in e and b"\r" not in e for e in events[:-1])
    assert [p["choices"][0]["delta"].get("content") for p in payloads] == ["", "Hello", " there", None]
    assert {p["model"] for p in payloads} == {"mock-model"}
    assert all("usage" not in p or p["usage"] is None for p in payloads)  # the client did not ask for usage
    upstream_lines = {line.rstrip(b"\r") for line in b"".join(script(upstream_model)).split(b"\n")}
    passed_as_written = [e for e in events[:-1] if e in upstream_lines]
    if upstream_model == "mock-model":  # every one-line chunk needed no change
        assert len(passed_as_written) == (4 if script is crlf_script else 3)
    else:
        assert passed_as_written == []


async def test_usage_asked_for_arrives_once_in_the_public_model_and_the_stream_is_costed(
    scripted_upstream: Callable[..., Any], proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    base = await scripted_upstream(crlf_script, "mock-model")
    proxy = await proxy_server(proxy_config([provider_config("scripted", "openai", base)]))
    stream = await sdk_client(proxy).chat.completions.create(
        model="mock-model",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    usages = [c.usage for c in chunks if c.usage is not None]
    assert len(usages) == 1 and (usages[0].prompt_tokens, usages[0].completion_tokens) == (3, 2)
    assert chunks[-1].usage is not None and chunks[-1].model == "mock-model"


async def test_an_upstream_stream_cut_after_the_commit_ends_with_one_error_event_and_done(
    scripted_upstream: Callable[..., Any], proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    def cut(model: str) -> list[bytes]:
        body = b"".join(crlf_script(model))
        return [body[: body.index(b"\r\n\r\n", body.index(b"Hello")) + 4]]  # "Hello", then closed without [DONE]

    base = await scripted_upstream(cut, "mock-model")
    proxy = await proxy_server(proxy_config([provider_config("scripted", "openai", base)]))
    events = await _raw_events(proxy.base_url)
    assert events[-1] == b"data: [DONE]"
    error = json.loads(events[-2].removeprefix(b"data: "))
    assert "stream interrupted" in error["error"]["message"]
    stream = await sdk_client(proxy).chat.completions.create(
        model="mock-model", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    with pytest.raises(openai.APIError, match="stream interrupted"):
        async for _chunk in stream:
            pass
