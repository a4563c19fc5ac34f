"""Helpers for adapter tests: targets for a mock base URL, and sending requests over loopback."""

from typing import Any

import aiohttp

from switchboard.api.provider import ProviderConfig, ProviderModel
from switchboard.proxy.adapters.base import Adapter, StreamTranslator, Target, UpstreamRequest


def make_target(
    provider_type: str,
    base_url: str | None,
    *,
    model: str = "public-model",
    upstream: str | None = "upstream-model",
    api_key: str | None = "sk-test",
    api_version: str | None = None,
    max_output_tokens: int | None = None,
) -> Target:
    provider = ProviderConfig(
        name="p",
        type=provider_type,  # type: ignore[arg-type]
        base_url=base_url,
        api_version=api_version,
        models=(ProviderModel(name=model, upstream_name=upstream, max_output_tokens=max_output_tokens),),
    )
    return Target(provider=provider, model=provider.models[0], api_key=api_key)


async def send(request: UpstreamRequest) -> tuple[int, dict[str, str], bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(request.method, request.url, headers=dict(request.headers), data=request.body) as resp,
    ):
        return resp.status, dict(resp.headers), await resp.read()


async def stream_through(request: UpstreamRequest, translator: StreamTranslator, *, chunk_size: int = 7) -> list[bytes]:
    """Send a streaming request and run the raw body through the translator in small pieces."""
    out: list[bytes] = []
    async with (
        aiohttp.ClientSession() as session,
        session.request(request.method, request.url, headers=dict(request.headers), data=request.body) as resp,
    ):
        assert resp.status == 200, await resp.read()
        async for piece in resp.content.iter_chunked(chunk_size):
            out += translator.feed(piece)
    return out + translator.finish()


def decode_events(events: list[bytes]) -> list[Any]:
    """The JSON payloads of OpenAI SSE events (``"[DONE]"`` kept as a string)."""
    import orjson

    payloads: list[Any] = []
    for event in events:
        assert event.startswith(b"data: ") and event.endswith(b"\n\n"), event
        data = event[len(b"data: ") : -2]
        payloads.append("[DONE]" if data == b"[DONE]" else orjson.loads(data))
    return payloads


def stream_text(payloads: list[Any]) -> str:
    return "".join(
        p["choices"][0]["delta"].get("content") or "" for p in payloads if isinstance(p, dict) and p.get("choices")
    )


async def chat(adapter: Adapter, target: Target, body: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    status, headers, raw = await send(adapter.chat_request(target, body, stream=False))
    if status != 200:
        raise adapter.error(status, raw, headers)
    completion, _, usage = adapter.chat_answer(target, "public-model", raw)
    return completion, usage
