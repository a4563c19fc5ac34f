"""SIGTERM drains: a stream in flight finishes within ``--shutdown-grace`` and is cut after it."""

import asyncio
from pathlib import Path

import openai
import pytest

from tests.fixtures.proxy import ProxyServer, dump_config, provider_config, proxy_config, start_proxy_cli, stop_process
from tests.fixtures.upstream import MockFactory

PROMPT = " ".join(f"w{i}" for i in range(12))  # echoed back one token at a time


async def _stream_through_sigterm(mock_base_url: str, tmp_path: Path, grace: str) -> tuple[str, bool]:
    """Start a slow stream, SIGTERM the proxy after its first chunk; the text received and whether it finished."""
    path = tmp_path / "proxy.yaml"
    path.write_text(dump_config(proxy_config([provider_config("a", "openai", mock_base_url)])))
    process, base_url = await start_proxy_cli("--config", str(path), "--shutdown-grace", grace)
    try:
        await ProxyServer(base_url, path).wait_for_version(1)
        text, finished = "", False
        async with openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="c", max_retries=0) as client:
            stream = await client.chat.completions.create(
                model="mock-model",
                messages=[{"role": "user", "content": PROMPT}],
                stream=True,
            )
            try:
                async for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        if not text:
                            process.terminate()  # SIGTERM while the answer is still streaming
                        text += chunk.choices[0].delta.content
                    if chunk.choices and chunk.choices[0].finish_reason:
                        finished = True
            except (openai.APIError, openai.APIConnectionError):
                pass  # cut by the shutdown
        await asyncio.wait_for(process.wait(), 30)
        return text, finished
    finally:
        await stop_process(process)


@pytest.mark.slow
async def test_a_stream_in_flight_finishes_within_the_grace(mock_upstream_factory: MockFactory, tmp_path: Path) -> None:
    mock = await mock_upstream_factory()
    await mock.set_faults("mock-model", latency_per_token_ms=150)  # about 1.8 s for the whole stream
    text, finished = await _stream_through_sigterm(mock.base_url, tmp_path, "20")
    assert finished and text.split() == PROMPT.split()


@pytest.mark.slow
async def test_a_stream_longer_than_the_grace_is_cut(mock_upstream_factory: MockFactory, tmp_path: Path) -> None:
    mock = await mock_upstream_factory()
    await mock.set_faults("mock-model", latency_per_token_ms=150)  # about 1.8 s for the whole stream
    text, finished = await _stream_through_sigterm(mock.base_url, tmp_path, "0.3")
    assert not finished and len(text.split()) < len(PROMPT.split())
