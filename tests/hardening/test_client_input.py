"""Hostile clients: whatever they send, the answer is a 2xx or a specific 4xx in OpenAI's format.

Property-based (hypothesis, bounded example counts): arbitrary JSON and bytes
to every POST endpoint, a wrong value for every known field, hostile routing
headers. Invariants: never a 5xx (the upstream is the healthy mock, so any 5xx
is the proxy's fault), always OpenAI's error body with no traceback, the
``param`` names the field that was wrong, and a normal SDK request still works
afterwards. Hypothesis runs in a worker thread and drives the real app on the
test's event loop through ``Bridge``.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchboard.api.profile import SessionAffinity
from switchboard.proxy.app import AppOptions
from tests.fixtures.proxy import ProxyFactory, ProxyServer, SdkClient, provider_config, proxy_config
from tests.hardening.checks import CHAT, EMBED, assert_openai_error

pytestmark = pytest.mark.timeout(120)

MAX_BODY_BYTES = 64 * 1024
POST_ROUTES = ("/v1/chat/completions", "/v1/embeddings", "/v1/routing/explain", "/v1/routing/estimate-cost")
GET_ROUTES = ("/v1/models", "/v1/routing/latency", "/healthz", "/readyz", "/metrics")
ROUTES = {**dict.fromkeys(POST_ROUTES, "POST"), **dict.fromkeys(GET_ROUTES, "GET")}
EXAMPLES = settings(
    max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


class Bridge:
    """Synchronous requests (for hypothesis' thread) run on the proxy's event loop."""

    def __init__(self, proxy: ProxyServer, session: aiohttp.ClientSession) -> None:
        self.proxy = proxy
        self._session = session
        self._loop = asyncio.get_running_loop()

    async def _send(self, method: str, path: str, data: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        async with self._session.request(method, self.proxy.base_url + path, data=data, headers=headers) as r:
            return r.status, await r.read()

    def send(
        self, path: str, data: bytes | None, headers: dict[str, str] | None = None, method: str = "POST"
    ) -> tuple[int, bytes]:
        future = asyncio.run_coroutine_threadsafe(self._send(method, path, data, headers or {}), self._loop)
        return future.result(timeout=30)

    def post_json(self, path: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        return self.send(path, python_json(body), {"Content-Type": "application/json", **(headers or {})})


@pytest.fixture
async def bridge(proxy_server: ProxyFactory, mock_upstream: Any) -> AsyncIterator[Bridge]:
    provider = provider_config("mock", "openai", mock_upstream.base_url)
    config = proxy_config(
        [provider], allow_client_routing=True, session_affinity=SessionAffinity(enabled=True, header="x-session-id")
    )
    proxy = await proxy_server(config, options=AppOptions(max_body_bytes=MAX_BODY_BYTES))
    async with aiohttp.ClientSession() as session:
        yield Bridge(proxy, session)


def assert_client_answer(status: int, body: bytes) -> None:
    """A success, or a 4xx in OpenAI's format: never a 5xx the client did not cause."""
    assert status < 500, (status, body[:300])
    if status >= 300:
        assert_openai_error(status, body)


async def assert_still_healthy(proxy: ProxyServer, sdk_client: SdkClient) -> None:
    answer = await sdk_client(proxy).chat.completions.create(**CHAT)
    assert answer.choices[0].message.content


async def run_property(check: Callable[[], None]) -> None:
    await asyncio.to_thread(check)


scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
KNOWN_KEYS = (
    *("model", "messages", "stream", "stream_options", "n", "temperature", "top_p", "max_tokens"),
    *("max_completion_tokens", "tools", "user", "input", "encoding_format", "dimensions", "metadata"),
)
known_key_objects = st.dictionaries(st.sampled_from(KNOWN_KEYS), json_values, max_size=6)


def python_json(value: Any) -> bytes:
    """Python's encoder: it writes NaN/Infinity literals and integers of any size, as hostile clients may."""
    return json.dumps(value).encode()


def is_strict_json(value: Any) -> bool:
    """False when ``value`` holds NaN/Infinity or an integer beyond 64 bits (orjson's limit)."""
    try:
        json.dumps(value, allow_nan=False)
        orjson.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


async def test_arbitrary_json_bodies_get_a_clear_answer(bridge: Bridge, sdk_client: SdkClient) -> None:
    @EXAMPLES
    @given(route=st.sampled_from(POST_ROUTES), body=json_values | known_key_objects)
    def check(route: str, body: Any) -> None:
        assert_client_answer(*bridge.send(route, python_json(body), {"Content-Type": "application/json"}))

    await run_property(check)
    await assert_still_healthy(bridge.proxy, sdk_client)


async def test_arbitrary_bytes_get_a_clear_answer(bridge: Bridge, sdk_client: SdkClient) -> None:
    content_types = st.sampled_from(
        ["application/json", "text/plain", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", ""]
    )

    @EXAMPLES
    @given(route=st.sampled_from(POST_ROUTES), body=st.binary(max_size=300), content_type=content_types)
    def check(route: str, body: bytes, content_type: str) -> None:
        status, answer = bridge.send(route, body, {"Content-Type": content_type} if content_type else {})
        assert_openai_error(status, answer, 400)

    await run_property(check)
    await assert_still_healthy(bridge.proxy, sdk_client)


not_a_string = st.none() | st.booleans() | st.integers() | st.floats() | st.lists(st.text(), max_size=2) | st.just({})
not_a_bool = st.none() | st.integers() | st.floats() | st.text(max_size=5) | st.just([]) | st.just({})
not_an_int = st.booleans() | st.floats().filter(lambda f: not f.is_integer()) | st.text(max_size=5) | st.just([])
not_a_number = st.booleans() | st.text(max_size=5) | st.just([]) | st.just({})


def out_of(low: float, high: float) -> st.SearchStrategy[float]:
    return st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not low <= f <= high)


bad_messages = (
    st.just([])
    | not_a_string.filter(lambda v: not isinstance(v, list) or v)
    | st.lists(not_a_string | st.text(), min_size=1, max_size=3)
    | st.builds(lambda role: [{"role": role, "content": "x"}], st.text(max_size=10).filter(lambda r: r not in ROLES))
    | st.builds(lambda content: [{"role": "user", "content": content}], st.integers() | st.booleans() | st.just({}))
    | st.just([{"role": "assistant", "tool_calls": [{"id": 1, "function": {"name": ""}}]}])
    | st.just([{"content": "no role"}])
)
ROLES = ("system", "developer", "user", "assistant", "tool", "function")
bad_tools = (
    not_a_string.filter(lambda v: v is not None and not isinstance(v, list))
    | st.just([{"type": "function", "function": {"name": "has spaces"}}])
    | st.just([{"type": "function", "function": {"name": "x" * 65}}])
    | st.just([{"type": "function", "function": {"name": "ok", "parameters": "not an object"}}])
    | st.just([{"type": "retrieval"}])
    | st.just([{"type": "function"}])
    | st.just(["not a tool"])
)
WRONG_CHAT_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "model": not_a_string | st.just(""),
    "messages": bad_messages,
    "stream": not_a_bool,
    "stream_options": st.integers() | st.text(max_size=3) | st.just({"include_usage": "yes"}) | st.just([]),
    "n": not_an_int | st.integers(max_value=0) | st.integers(min_value=129),
    "temperature": not_a_number | out_of(0, 2),
    "top_p": not_a_number | out_of(0, 1),
    "max_tokens": not_an_int | st.integers(max_value=0),
    "max_completion_tokens": not_an_int | st.integers(max_value=0),
    "tools": bad_tools,
    "user": not_a_string.filter(lambda v: v is not None),
}
WRONG_EMBEDDINGS_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "model": not_a_string | st.just(""),
    "input": st.none() | st.booleans() | st.floats() | st.just({}) | st.just([1.5]) | st.just([["x"]]),
    "encoding_format": st.text(max_size=8).filter(lambda v: v not in ("float", "base64")) | st.integers(),
    "dimensions": not_an_int | st.integers(max_value=0),
    "user": not_a_string.filter(lambda v: v is not None),
}


def assert_names_field(status: int, body: bytes, field: str) -> None:
    error = assert_openai_error(status, body, 400)
    param = error["param"] or ""
    assert param == field or param.startswith((f"{field}[", f"{field}.")), (field, error)
    assert field in error["message"], error


@pytest.mark.parametrize(
    ("route", "base", "wrong"),
    [("/v1/chat/completions", CHAT, WRONG_CHAT_VALUES), ("/v1/embeddings", EMBED, WRONG_EMBEDDINGS_VALUES)],
    ids=["chat", "embeddings"],
)
async def test_a_wrong_value_for_any_known_field_names_that_field(
    route: str, base: dict[str, Any], wrong: dict[str, st.SearchStrategy[Any]], bridge: Bridge, sdk_client: SdkClient
) -> None:
    fields = st.sampled_from(sorted(wrong)).flatmap(lambda f: st.tuples(st.just(f), wrong[f]))

    @EXAMPLES
    @given(field_value=fields, unknown=st.dictionaries(st.from_regex(r"\Ax_[a-z]{1,6}\Z"), json_values, max_size=2))
    def check(field_value: tuple[str, Any], unknown: dict[str, Any]) -> None:
        field, value = field_value
        body = {**base, **unknown, field: value}
        if not is_strict_json(body):  # NaN/Infinity literals or a 65-bit integer: not JSON the proxy reads
            assert_openai_error(*bridge.post_json(route, body), 400)
            return
        assert_names_field(*bridge.post_json(route, body), field)

    await run_property(check)
    await assert_still_healthy(bridge.proxy, sdk_client)


async def test_unknown_fields_and_duplicate_keys_pass_through(bridge: Bridge, mock_upstream: Any) -> None:
    """Fields OpenAI may add later are forwarded untouched; of duplicate keys the last wins (as in OpenAI)."""
    raw = b'{"model": "nope", "model": "mock-model", "messages": [{"role": "user", "content": "hi"}], "x_new": [1]}'
    status, body = await asyncio.to_thread(bridge.send, "/v1/chat/completions", raw)
    assert status == 200, body
    assert (await mock_upstream.requests("mock-model"))[-1]["body"]["x_new"] == [1]


HOSTILE_HEADERS = ("x-routing-profile", "x-routing-preference", "x-provider-hint", "x-session-id")
header_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300) | st.sampled_from(
    ["", " ", "default", "mock", "*", "../../etc", "mock,mock", "x" * 4000, "ünïcödé", "\U0001d518"]
)


async def test_hostile_routing_headers_get_a_clear_answer(bridge: Bridge, sdk_client: SdkClient) -> None:
    @EXAMPLES
    @given(route=st.sampled_from(POST_ROUTES), headers=st.dictionaries(st.sampled_from(HOSTILE_HEADERS), header_values))
    def check(route: str, headers: dict[str, str]) -> None:
        body = EMBED if route == "/v1/embeddings" else CHAT
        assert_client_answer(*bridge.post_json(route, body, headers))

    await run_property(check)
    await assert_still_healthy(bridge.proxy, sdk_client)


async def test_unknown_routing_profile_header_names_the_profile(bridge: Bridge) -> None:
    status, body = await asyncio.to_thread(
        bridge.post_json, "/v1/chat/completions", CHAT, {"x-routing-profile": "no-such-profile"}
    )
    error = assert_openai_error(status, body)
    assert 400 <= status < 500 and "no-such-profile" in error["message"], error


WRONG_METHODS = [
    (route, method)
    for route in sorted(ROUTES)
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
    if method != ROUTES[route]
]


@pytest.mark.parametrize(("route", "method"), WRONG_METHODS)
async def test_every_wrong_method_on_every_route_is_a_405(route: str, method: str, bridge: Bridge) -> None:
    status, body = await asyncio.to_thread(bridge.send, route, b"{}", None, method)
    error = assert_openai_error(status, body, 405)
    assert method in error["message"] and route in error["message"], error


@pytest.mark.parametrize("path", ["/", "/v1", "/v1/completions", "/v1/chat/completions/x", "/%00", "/v1/../etc"])
async def test_unknown_url_is_a_404_naming_it(path: str, bridge: Bridge) -> None:
    status, body = await asyncio.to_thread(bridge.send, path, b"{}")
    error = assert_openai_error(status, body)
    assert status in (400, 404), error


@pytest.mark.parametrize("route", POST_ROUTES)
async def test_oversized_body_is_a_413(route: str, bridge: Bridge, sdk_client: SdkClient) -> None:
    big = {**CHAT, "messages": [{"role": "user", "content": "x" * (MAX_BODY_BYTES + 1)}]}
    status, body = await asyncio.to_thread(bridge.post_json, route, big)
    assert_openai_error(status, body, 413)
    await assert_still_healthy(bridge.proxy, sdk_client)


@pytest.mark.parametrize("payload", [b"[" * 5000 + b"]" * 5000, b'{"a":' * 2000 + b"1" + b"}" * 2000])
async def test_deeply_nested_json_is_a_400(payload: bytes, bridge: Bridge) -> None:
    for route in POST_ROUTES:
        status, body = await asyncio.to_thread(bridge.send, route, payload)
        assert_openai_error(status, body, 400)


async def test_large_but_allowed_message_is_served(bridge: Bridge) -> None:
    big = {**CHAT, "messages": [{"role": "user", "content": "word " * (MAX_BODY_BYTES // 6)}]}
    status, body = await asyncio.to_thread(bridge.post_json, "/v1/chat/completions", big)
    assert status == 200, body[:300]
