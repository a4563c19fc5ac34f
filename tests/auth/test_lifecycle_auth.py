"""Client auth in the request lifecycle, on a tiny aiohttp app, driven by raw HTTP and by the official openai SDK."""

import hashlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import openai
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from switchboard.proxy.auth import KeyFileSource, require_profile
from switchboard.proxy.http.access_log import AccessLog
from switchboard.proxy.http.app_keys import STATE
from switchboard.proxy.http.lifecycle import RequestLifecycle
from tests.fixtures.proxy import bare_runtime

CHAT_KEY = "sk-chat-only-0123456789"
ADMIN_KEY = "sk-admin-everything-0123"
KEYS = f"""
keys:
  - name: chat-team
    key: {CHAT_KEY}
    profiles: [default/chat]
  - name: admin
    sha256: {hashlib.sha256(ADMIN_KEY.encode()).hexdigest()}
    profiles: ["*"]
"""
PROFILE_OF_MODEL = {"gpt-4o": "default/chat", "embed-1": "default/embed"}


async def chat(request: web.Request) -> web.Response:
    """Stands in for the proxy's handler: routes the model to a profile, then authorizes."""
    body = await request.json()
    client = request[STATE].client
    require_profile(client, PROFILE_OF_MODEL[body["model"]])
    message = {"role": "assistant", "content": client.name if client else "-"}
    return web.json_response(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
        }
    )


async def healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok")


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[TestServer]:
    keys = tmp_path / "keys.yaml"
    keys.write_text(KEYS)
    keys_source = KeyFileSource(keys)
    lifecycle = RequestLifecycle(runtime=bare_runtime(), access_log=AccessLog(), keys=keys_source.current)
    app = web.Application()
    lifecycle.add_routes(app.router, [("POST", "/v1/chat/completions", chat), ("GET", "/healthz", healthz)])
    async with TestServer(app, host="127.0.0.1", port=0) as srv:
        yield srv


def _sdk(server: TestServer, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=key, base_url=str(server.make_url("/v1")), max_retries=0, timeout=30)


async def _ask(server: TestServer, key: str, model: str) -> str | None:
    async with _sdk(server, key) as sdk:
        reply = await sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    return reply.choices[0].message.content


async def test_sdk_with_allowed_keys(server: TestServer) -> None:
    assert await _ask(server, CHAT_KEY, "gpt-4o") == "chat-team"
    assert await _ask(server, ADMIN_KEY, "embed-1") == "admin"


async def test_sdk_with_unknown_key_gets_401(server: TestServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(openai.AuthenticationError) as info:
        await _ask(server, "sk-not-a-known-key-123", "gpt-4o")
    assert info.value.status_code == 401
    assert info.value.code == "invalid_api_key"
    assert info.value.type == "invalid_request_error"
    assert "sk-not-a-known-key-123" not in caplog.text


async def test_sdk_with_key_for_another_profile_gets_403(server: TestServer) -> None:
    with pytest.raises(openai.PermissionDeniedError) as info:
        await _ask(server, CHAT_KEY, "embed-1")
    assert info.value.code == "profile_not_allowed"
    assert "'chat-team'" in info.value.message and "'default/embed'" in info.value.message
    assert CHAT_KEY not in info.value.message


async def _post(server: TestServer, headers: dict[str, str]) -> tuple[int, dict[str, object], str]:
    async with aiohttp.ClientSession() as http:
        url = server.make_url("/v1/chat/completions")
        async with http.post(url, json={"model": "gpt-4o", "messages": []}, headers=headers) as resp:
            return resp.status, await resp.json(), resp.headers.get("WWW-Authenticate", "")


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "missing_api_key"),
        ({"Authorization": "Bearer "}, 401, "missing_api_key"),
        ({"Authorization": f"Basic {CHAT_KEY}"}, 401, "missing_api_key"),
        ({"Authorization": "Bearer sk-wrong-wrong-wrong"}, 401, "invalid_api_key"),
        ({"api-key": "sk-wrong-wrong-wrong"}, 401, "invalid_api_key"),
        ({"Authorization": f"bearer {CHAT_KEY}"}, 200, None),
        ({"api-key": CHAT_KEY}, 200, None),
        ({"Authorization": "Bearer sk-wrong-wrong-wrong", "api-key": CHAT_KEY}, 401, "invalid_api_key"),
    ],
)
async def test_headers(server: TestServer, headers: dict[str, str], status: int, code: str | None) -> None:
    got, body, challenge = await _post(server, headers)
    assert got == status
    if status == 401:
        error = body["error"]
        assert isinstance(error, dict)
        assert set(error) == {"message", "type", "code", "param"}
        assert error["code"] == code
        assert challenge.startswith("Bearer")


async def test_health_is_public(server: TestServer) -> None:
    async with aiohttp.ClientSession() as http, http.get(server.make_url("/healthz")) as resp:
        assert resp.status == 200
