"""Requests only the native API can express (hosted tools, documents) go to the native upstreams of
the plan, skipping the others; with none, a clear 400 in the client's API names the part."""

import anthropic
import openai
import pytest

from tests.fixtures.proxy import ProxyFactory, SdkClient, provider_config, proxy_config
from tests.fixtures.sdk_apis import AnthropicClients
from tests.fixtures.upstream import MockFactory

HOSTED_TOOL = {"type": "web_search"}
DOCUMENT = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "a short doc"}}


async def test_a_hosted_tool_skips_translated_upstreams(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    translated, native = await mock_upstream_factory(), await mock_upstream_factory()
    providers = [
        provider_config("gem", "gemini", translated.base_url),
        provider_config("oai", "openai", native.base_url),
    ]
    proxy = await proxy_server(proxy_config(providers))
    raw = await sdk_client(proxy).responses.with_raw_response.create(
        model="mock-model",
        input="search this",
        tools=[HOSTED_TOOL],  # type: ignore[list-item]
    )
    assert raw.headers["x-switchboard-provider"] == "oai" and raw.headers["x-switchboard-attempts"] == "1"
    assert raw.parse().output_text == "search this"
    (seen,) = await native.requests()
    assert seen["body"]["tools"] == [HOSTED_TOOL] and seen["body"]["store"] is False
    assert await translated.requests() == []


async def test_a_hosted_tool_without_a_native_upstream_is_a_400(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient
) -> None:
    mock = await mock_upstream_factory()
    proxy = await proxy_server(proxy_config([provider_config("gem", "gemini", mock.base_url)]))
    with pytest.raises(openai.BadRequestError, match=r"tools\[0\]: only function tools") as error:
        await sdk_client(proxy).responses.create(model="mock-model", input="x", tools=[HOSTED_TOOL])  # type: ignore[list-item]
    assert error.value.param == "tools[0]"
    assert await mock.requests() == []


async def test_a_document_goes_to_anthropic_only(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, anthropic_client: AnthropicClients
) -> None:
    translated, native = await mock_upstream_factory(), await mock_upstream_factory()
    only_translated = await proxy_server(proxy_config([provider_config("oai", "openai", translated.base_url)]))
    messages = [{"role": "user", "content": [DOCUMENT, {"type": "text", "text": "summarise"}]}]
    with pytest.raises(anthropic.BadRequestError, match="document") as error:
        await anthropic_client(only_translated).messages.create(model="mock-model", max_tokens=10, messages=messages)  # type: ignore[arg-type]
    assert error.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    providers = [
        provider_config("oai", "openai", translated.base_url),
        provider_config("ant", "anthropic", native.base_url),
    ]
    both = await proxy_server(proxy_config(providers))
    message = await anthropic_client(both).messages.create(model="mock-model", max_tokens=10, messages=messages)  # type: ignore[arg-type]
    assert message.content[0].text == "summarise"  # type: ignore[union-attr]
    assert (await native.requests())[0]["body"]["messages"][0]["content"][0] == DOCUMENT
    assert await translated.requests() == []
