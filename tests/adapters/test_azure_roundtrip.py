"""Azure OpenAI adapter against the real mock upstream over loopback."""

import orjson
import pytest

from switchboard.mock.harness import MockControl
from switchboard.proxy.adapters.base import UpstreamError, Usage
from switchboard.proxy.adapters.registry import get_adapter
from tests.adapters.support import chat, decode_events, make_target, send, stream_text, stream_through
from tests.fixtures.upstream import MockFactory

BODY = {"model": "public-model", "messages": [{"role": "user", "content": "hello there world"}]}


async def test_chat_and_stream_by_deployment(mock_upstream_factory: MockFactory) -> None:
    mock = await mock_upstream_factory(api_key="az-key")
    adapter = get_adapter("azure-openai")
    target = make_target(
        "azure-openai", mock.base_url, api_key="az-key", api_version="2024-10-21", upstream="my-deploy"
    )
    request = adapter.chat_request(target, BODY, stream=False)
    assert request.url.endswith("/openai/deployments/my-deploy/chat/completions?api-version=2024-10-21")
    assert "Authorization" not in request.headers
    response, usage = await chat(adapter, target, BODY)
    assert response["model"] == "public-model"
    assert usage == Usage(3, 3)
    translator = adapter.chat_stream(target, "public-model", include_usage=True)
    payloads = decode_events(await stream_through(adapter.chat_request(target, BODY, stream=True), translator))
    assert stream_text(payloads) == "hello there world"
    assert payloads[-2]["usage"]["total_tokens"] == 6
    stats = await mock.stats()
    assert stats["models"]["my-deploy"]["requests"] == 2


async def test_embeddings_and_wrong_key(mock_upstream_factory: MockFactory) -> None:
    mock = await mock_upstream_factory(api_key="az-key")
    adapter = get_adapter("azure-openai")
    target = make_target("azure-openai", mock.base_url, api_key="az-key", api_version="2024-10-21")
    status, _, raw = await send(adapter.embeddings_request(target, {"model": "public-model", "input": "x y"}))
    assert status == 200
    response, body, usage = adapter.embeddings_response(target, "public-model", raw)
    assert orjson.loads(body) == response
    assert len(response["data"][0]["embedding"]) == 8 and usage.prompt_tokens == 2
    bad = make_target("azure-openai", mock.base_url, api_key="nope", api_version="2024-10-21")
    with pytest.raises(UpstreamError) as info:
        await chat(adapter, bad, BODY)
    assert info.value.status == 401


async def test_unknown_provider_type_is_a_clear_error(mock_upstream: MockControl) -> None:
    with pytest.raises(KeyError, match="no adapter for provider type 'cohere'"):
        get_adapter("cohere")
