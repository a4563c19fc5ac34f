"""Every answer carries ``Server: switchboard`` (no aiohttp or Python version), its ``X-Request-Id``, and the
client's ``x-ratelimit-*`` once admitted: streamed or not, served or refused, API, probes, unknown URLs and methods.

The headers are set where each answer is made (the lifecycle, ``json_in_chunks``, the stream's open), not by a
signal as it leaves, so each kind of answer is asked for here over real HTTP."""

from pathlib import Path

import aiohttp
import openai

from switchboard.proxy.app import AppOptions
from switchboard.proxy.auth import KeyFileSource
from tests.fixtures.proxy import ProxyFactory, provider_config, proxy_config
from tests.fixtures.upstream import MockFactory

KEY = "sk-answer-headers-0123456789"
RPM = 1000
CHAT = {"model": "mock-model", "messages": [{"role": "user", "content": "hi"}]}


async def test_every_answer_has_server_request_id_and_limits(
    tmp_path: Path, mock_upstream_factory: MockFactory, proxy_server: ProxyFactory
) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text(f"keys:\n  - name: team-h\n    key: {KEY}\n    profiles: ['*']\n    rateLimit:\n")
    keys.write_text(keys.read_text() + f"      requestsPerMinute: {RPM}\n")
    mock = await mock_upstream_factory()
    config = proxy_config([provider_config("a", "openai", mock.base_url)])
    proxy = await proxy_server(config, options=AppOptions(api_keys=KeyFileSource(keys).current))
    auth = {"Authorization": f"Bearer {KEY}"}
    # (method, path, headers, json body, expected status, admitted: carries the key's x-ratelimit-*)
    asks: list[tuple[str, str, dict[str, str], object, int, bool]] = [
        ("POST", "/v1/chat/completions", auth, CHAT, 200, True),
        ("POST", "/v1/chat/completions", auth, {**CHAT, "stream": True}, 200, True),
        ("POST", "/v1/messages", auth, {**CHAT, "max_tokens": 5, "stream": True}, 200, True),
        ("POST", "/v1/chat/completions", auth, {"model": "mock-model", "messages": "x"}, 400, False),
        ("POST", "/v1/chat/completions", {}, CHAT, 401, False),
        ("GET", "/v1/nothing-here", auth, None, 404, False),
        ("PUT", "/v1/models", auth, None, 405, False),
        ("GET", "/v1/models", auth, None, 200, False),
        ("HEAD", "/v1/models", auth, None, 200, False),
        ("GET", "/healthz", {}, None, 200, False),
        ("GET", "/readyz", {}, None, 200, False),
        ("GET", "/metrics", {}, None, 200, False),
        ("GET", "/", {}, None, 401, False),
        ("GET", "/", auth, None, 404, False),
        ("POST", "/healthz", {}, None, 405, False),
        ("GET", "/v1", auth, None, 404, False),
    ]
    async with aiohttp.ClientSession() as http:
        for n, (method, path, headers, body, status, admitted) in enumerate(asks):
            request_id = f"hdr-{n}"
            sent = {**headers, "X-Request-Id": request_id}
            async with http.request(method, proxy.base_url + path, headers=sent, json=body) as response:
                what = f"{method} {path} {body!r:.40}"
                await response.read()
                assert response.status == status, what
                assert response.headers["Server"] == "switchboard", what
                assert response.headers["X-Request-Id"] == request_id, what
                assert (response.headers.get("x-ratelimit-limit-requests") == str(RPM)) is admitted, what
                if status == 405:
                    assert response.headers["Allow"], what
                if path.startswith("/v1/") and status >= 400:
                    assert response.headers["Content-Type"].startswith("application/json"), what

    # The official SDK sees them too, on a stream as on a complete answer.
    async with openai.AsyncOpenAI(base_url=proxy.openai_base_url, api_key=KEY, max_retries=0) as sdk:
        raw = await sdk.chat.completions.with_raw_response.create(
            model="mock-model", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        assert raw.headers["server"] == "switchboard" and len(raw.headers["x-request-id"]) == 32
        assert int(raw.headers["x-ratelimit-remaining-requests"]) < RPM
        async for _ in raw.parse():
            pass
