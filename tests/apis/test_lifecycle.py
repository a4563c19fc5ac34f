"""Responses and Messages share chat's lifecycle: failover before the stream commits, clean
mid-stream failures after it, client keys (``x-api-key`` too), limits and metrics."""

import aiohttp
import anthropic
import openai
import pytest

from switchboard.proxy.app import AppOptions
from switchboard.proxy.auth import parse_key_file
from tests.fixtures.proxy import ProxyFactory, ProxyServer, SdkClient, provider_config, proxy_config
from tests.fixtures.sdk_apis import AnthropicClients
from tests.fixtures.upstream import MockFactory

CLIENT_KEY = "sk-client-0123456789abcdef"


async def _two_providers(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, first: str, second: str, **faults: object
) -> ProxyServer:
    broken, healthy = await mock_upstream_factory(), await mock_upstream_factory()
    await broken.set_faults("mock-model", **faults)
    providers = [provider_config("broken", first, broken.base_url), provider_config("ok", second, healthy.base_url)]
    return await proxy_server(proxy_config(providers))


@pytest.mark.parametrize(("first", "second"), [("openai", "anthropic"), ("gemini", "openai")])
@pytest.mark.parametrize("fault", [{"status": 503}, {"cut_stream_after": 0}], ids=["503", "empty-stream"])
async def test_responses_stream_fails_over_before_commit(
    mock_upstream_factory: MockFactory,
    proxy_server: ProxyFactory,
    sdk_client: SdkClient,
    first: str,
    second: str,
    fault: dict[str, object],
) -> None:
    proxy = await _two_providers(mock_upstream_factory, proxy_server, first, second, **fault)
    raw = await sdk_client(proxy).responses.with_raw_response.create(
        model="mock-model", input="still here", stream=True
    )
    assert raw.headers["x-switchboard-provider"] == "ok"
    assert raw.headers["x-switchboard-attempts"] == "2"
    events = [event async for event in raw.parse()]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "still here"


@pytest.mark.parametrize(("first", "second"), [("anthropic", "gemini"), ("openai", "anthropic")])
@pytest.mark.parametrize("fault", [{"status": 529}, {"cut_stream_after": 0}], ids=["529", "empty-stream"])
async def test_messages_stream_fails_over_before_commit(
    mock_upstream_factory: MockFactory,
    proxy_server: ProxyFactory,
    anthropic_client: AnthropicClients,
    first: str,
    second: str,
    fault: dict[str, object],
) -> None:
    proxy = await _two_providers(mock_upstream_factory, proxy_server, first, second, **fault)
    async with anthropic_client(proxy).messages.stream(
        model="mock-model", max_tokens=50, messages=[{"role": "user", "content": "still here"}]
    ) as stream:
        final = await stream.get_final_message()
        headers = stream.response.headers
    assert headers["x-switchboard-provider"] == "ok" and headers["x-switchboard-attempts"] == "2"
    assert final.content[0].text == "still here"  # type: ignore[union-attr]


@pytest.mark.parametrize("upstream", ["openai", "anthropic"])
async def test_responses_stream_cut_after_commit_fails_the_response(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, sdk_client: SdkClient, upstream: str
) -> None:
    mock = await mock_upstream_factory()
    await mock.set_faults("mock-model", cut_stream_after=6)
    proxy = await proxy_server(proxy_config([provider_config("a", upstream, mock.base_url)]))
    seen: list[str] = []
    with pytest.raises(openai.APIError, match="stream interrupted"):
        async with sdk_client(proxy).responses.stream(model="mock-model", input="a b c d e f g h") as stream:
            async for event in stream:
                seen.append(event.type)
    assert seen[0] == "response.created" and seen[-1] == "response.failed"


@pytest.mark.parametrize("upstream", ["anthropic", "openai"])
async def test_messages_stream_cut_after_commit_is_an_error_event(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory, anthropic_client: AnthropicClients, upstream: str
) -> None:
    mock = await mock_upstream_factory()
    await mock.set_faults("mock-model", cut_stream_after=6)
    proxy = await proxy_server(proxy_config([provider_config("a", upstream, mock.base_url)]))
    with pytest.raises(anthropic.APIStatusError, match="stream interrupted"):
        async with anthropic_client(proxy).messages.stream(
            model="mock-model", max_tokens=50, messages=[{"role": "user", "content": "a b c d e f g h"}]
        ) as stream:
            async for _ in stream:
                pass


async def test_x_api_key_is_a_client_key_and_refusals_are_anthropic_errors(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory
) -> None:
    mock = await mock_upstream_factory()
    store = parse_key_file(f"keys:\n  - name: team\n    key: {CLIENT_KEY}\n    profiles: ['other']\n")
    config = proxy_config([provider_config("a", "anthropic", mock.base_url)])
    proxy = await proxy_server(config, options=AppOptions(api_keys=lambda: store))
    request = {"model": "mock-model", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    async with anthropic.AsyncAnthropic(base_url=proxy.base_url, api_key="sk-wrong", max_retries=0) as wrong:
        with pytest.raises(anthropic.AuthenticationError) as unauthenticated:
            await wrong.messages.create(**request)  # type: ignore[arg-type]
    assert unauthenticated.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    async with anthropic.AsyncAnthropic(base_url=proxy.base_url, api_key=CLIENT_KEY, max_retries=0) as known:
        with pytest.raises(anthropic.PermissionDeniedError) as denied:  # the key may not use profile "default"
            await known.messages.create(**request)  # type: ignore[arg-type]
    assert denied.value.body == {
        "type": "error",
        "error": {
            "type": "permission_error",
            "message": "API key 'team' is not allowed to use routing profile 'default'.",
        },
    }
    async with aiohttp.ClientSession() as session:
        async with session.post(proxy.base_url + "/v1/messages", json=request) as missing:
            body = await missing.json()
        assert missing.status == 401 and body["type"] == "error" and "x-api-key" in body["error"]["message"]
        bearer = {"Authorization": f"Bearer {CLIENT_KEY}"}
        async with session.post(
            proxy.base_url + "/v1/responses", json={"model": "mock-model", "input": "x"}, headers=bearer
        ) as resp:
            assert resp.status == 403 and (await resp.json())["error"]["code"] == "profile_not_allowed"
    assert await mock.requests() == []


async def test_rate_limits_and_metrics_apply_to_every_api(
    mock_upstream_factory: MockFactory,
    proxy_server: ProxyFactory,
    sdk_client: SdkClient,
    anthropic_client: AnthropicClients,
) -> None:
    mock = await mock_upstream_factory()
    config = proxy_config([provider_config("a", "anthropic", mock.base_url)], rate_limit={"requestsPerMinute": 2})
    proxy = await proxy_server(config)
    await sdk_client(proxy).responses.create(model="mock-model", input="one")
    await anthropic_client(proxy).messages.create(
        model="mock-model", max_tokens=5, messages=[{"role": "user", "content": "two"}]
    )
    with pytest.raises(anthropic.RateLimitError) as limited:
        await anthropic_client(proxy).messages.create(
            model="mock-model", max_tokens=5, messages=[{"role": "user", "content": "three"}]
        )
    assert limited.value.response.headers["retry-after"]
    with pytest.raises(openai.RateLimitError):
        await sdk_client(proxy).responses.create(model="mock-model", input="four")
    async with aiohttp.ClientSession() as session, session.get(proxy.base_url + "/metrics") as resp:
        metrics = await resp.text()
    requests = [line for line in metrics.splitlines() if line.startswith("switchboard_requests_total{")]
    for api, status in (("responses", "200"), ("messages", "200"), ("messages", "429"), ("responses", "429")):
        assert any(
            f'api="{api}",endpoint="{api}"' in line and f'status="{status}"' in line and line.endswith(" 1.0")
            for line in requests
        ), requests
    assert 'switchboard_tokens_total{api="messages",kind="completion",profile="default",provider="a"} 1.0' in metrics


async def test_explain_and_estimate_read_each_apis_body(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory
) -> None:
    mock = await mock_upstream_factory()
    proxy = await proxy_server(proxy_config([provider_config("a", "gemini", mock.base_url)]))
    long_text = "word " * 400  # about 500 estimated tokens, whichever API carries it
    bodies = {
        "responses": {"model": "mock-model", "input": long_text, "max_output_tokens": 7},
        "messages": {"model": "mock-model", "max_tokens": 7, "messages": [{"role": "user", "content": long_text}]},
    }
    async with aiohttp.ClientSession() as session:
        for api, body in bodies.items():
            async with session.post(f"{proxy.base_url}/v1/routing/explain?api={api}", json=body) as resp:
                assert resp.status == 200, await resp.text()
                assert [r["provider"] for r in (await resp.json())["ranked"]] == ["a"]
            async with session.post(f"{proxy.base_url}/v1/routing/estimate-cost?api={api}", json=body) as resp:
                (estimate,) = (await resp.json())["data"]
            assert estimate["prompt_tokens"] >= 500 and estimate["completion_tokens"] == 7, estimate
        async with session.post(f"{proxy.base_url}/v1/routing/explain?api=nope", json=bodies["responses"]) as resp:
            assert resp.status == 400 and (await resp.json())["error"]["param"] == "api"
    assert await mock.requests() == []


async def test_a_stream_broken_during_its_preamble_still_fails_over(
    mock_upstream_factory: MockFactory,
    proxy_server: ProxyFactory,
    sdk_client: SdkClient,
    anthropic_client: AnthropicClients,
) -> None:
    """response.created / message_start and an opened item carry no output: the client has not
    committed to the attempt, so the next provider answers and the client sees one clean stream."""
    responses = await _two_providers(mock_upstream_factory, proxy_server, "openai", "gemini", cut_stream_after=3)
    events = [
        e async for e in await sdk_client(responses).responses.create(model="mock-model", input="hi", stream=True)
    ]
    assert [e.type for e in events].count("response.created") == 1
    assert events[-1].type == "response.completed" and events[-1].response.output_text == "hi"
    messages = await _two_providers(mock_upstream_factory, proxy_server, "anthropic", "openai", cut_stream_after=3)
    async with anthropic_client(messages).messages.stream(
        model="mock-model", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_message()
    assert kinds.count("message_start") == 1 and final.content[0].text == "hi"  # type: ignore[union-attr]
    assert stream.response.headers["x-switchboard-provider"] == "ok"
