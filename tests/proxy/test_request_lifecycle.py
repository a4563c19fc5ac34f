"""One owner per request, seen from outside: over HTTP, every API request gets its id, its error shape, exactly
one metric count, one access line and one SERVER span, whatever its answer (served, refused by auth, unknown
model, unknown URL, wrong method, upstream failure); probes get an id and nothing else."""

import asyncio
import logging
import re
from pathlib import Path

import aiohttp
import openai
import pytest
from opentelemetry import metrics
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from switchboard.api.config import ProxyConfig
from switchboard.api.profile import ProfileConfig, ProviderRef, RetryPolicy
from switchboard.logformat import RequestIdFilter
from switchboard.proxy.app import AppOptions
from switchboard.proxy.auth import KeyFileSource
from switchboard.proxy.telemetry.genai import GenAiMetrics
from switchboard.proxy.telemetry.setup import Telemetry
from tests.fixtures.proxy import ProxyFactory, provider_config, proxy_config
from tests.fixtures.upstream import MockFactory
from tests.hardening.checks import metrics_text

KEY = "sk-lifecycle-team-0123456789"
CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{CLIENT_TRACE}-b7ad6b7169203331-01"
ACCESS = "switchboard.proxy.access"
# What each request is, what it answers, and the access line it leaves (duration left out). A request refused
# before routing has neither profile nor provider; one whose only attempt failed has its profile, no provider.
EXPECTED = {
    "life-ok": (200, "POST /v1/chat/completions 200 api=chat profile=ok provider=ok client=team-a"),
    "life-401": (401, "POST /v1/chat/completions 401 api=chat profile=none provider=none client=-"),
    "life-msg-404": (404, "POST /v1/messages 404 api=messages profile=none provider=none client=team-a"),
    "life-url-404": (404, "GET /v1/nope 404 api=other profile=none provider=none client=team-a"),
    "life-405": (405, "DELETE /v1/chat/completions 405 api=other profile=none provider=none client=team-a"),
    "life-502": (502, "POST /v1/chat/completions 502 api=chat profile=down provider=none client=team-a"),
}


def _config(ok_url: str, down_url: str) -> ProxyConfig:
    no_retries = RetryPolicy(max_retries=0)
    return ProxyConfig(
        providers=(
            provider_config("ok", "openai", ok_url),
            provider_config("down", "openai", down_url, models=("down-model",)),
        ),
        profiles=(
            ProfileConfig(name="ok", models=("mock-model",), providers=(ProviderRef(name="ok"),)),
            ProfileConfig(name="down", models=("down-model",), providers=(ProviderRef(name="down"),), retry=no_retries),
        ),
    )


async def _access_lines(caplog: pytest.LogCaptureFixture, count: int) -> list[logging.LogRecord]:
    for _ in range(500):  # the writer thread logs them a moment after the answers
        found = [r for r in caplog.records if r.name == ACCESS]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} access lines expected, got {len(found)}")


def _server_spans(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    spans = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    return {str((s.attributes or {})["switchboard.request_id"]): s for s in spans}


async def test_every_answer_is_counted_logged_and_traced_once(
    tmp_path: Path,
    mock_upstream_factory: MockFactory,
    proxy_server: ProxyFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(RequestIdFilter())  # what the CLI installs on its log handlers
    ok, down = await mock_upstream_factory(), await mock_upstream_factory()
    await down.set_faults("down-model", status=500)
    keys = tmp_path / "keys.yaml"
    keys.write_text(f"keys:\n  - name: team-a\n    key: {KEY}\n    profiles: ['*']\n")
    exporter, tracer_provider = InMemorySpanExporter(), TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    genai = GenAiMetrics.on(metrics.NoOpMeter("test"))
    telemetry = Telemetry(tracer_provider.get_tracer("test"), genai, True, tracer_provider)
    options = AppOptions(api_keys=KeyFileSource(keys).current, telemetry=telemetry)
    proxy = await proxy_server(_config(ok.base_url, down.base_url), options=options)
    caplog.clear()

    sdk = openai.AsyncOpenAI(base_url=proxy.openai_base_url, api_key=KEY, max_retries=0)
    async with sdk:
        raw = await sdk.chat.completions.with_raw_response.create(
            model="mock-model",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-request-id": "life-ok", "traceparent": TRACEPARENT},
        )
    assert raw.headers["x-request-id"] == "life-ok" and raw.headers["server"] == "switchboard"
    auth = {"Authorization": f"Bearer {KEY}"}
    chat = {"model": "mock-model", "messages": [{"role": "user", "content": "hi"}]}
    asks: list[tuple[str, str, dict[str, str], dict[str, object] | None]] = [
        ("POST", "/v1/chat/completions", {"x-request-id": "life-401"}, chat),
        ("POST", "/v1/messages", {**auth, "x-request-id": "life-msg-404"}, {**chat, "model": "no", "max_tokens": 5}),
        ("GET", "/v1/nope", {**auth, "x-request-id": "life-url-404"}, None),
        ("DELETE", "/v1/chat/completions", {**auth, "x-request-id": "life-405"}, None),
        ("POST", "/v1/chat/completions", {**auth, "x-request-id": "life-502"}, {**chat, "model": "down-model"}),
        ("GET", "/healthz", {"x-request-id": "life-probe"}, None),
    ]
    bodies: dict[str, object] = {}
    async with aiohttp.ClientSession() as http:
        for method, path, headers, body in asks:
            async with http.request(method, proxy.base_url + path, headers=headers, json=body) as response:
                request_id = headers["x-request-id"]
                assert response.headers["x-request-id"] == request_id
                assert response.headers["server"] == "switchboard"
                assert response.status == EXPECTED.get(request_id, (200,))[0], request_id
                bodies[request_id] = await response.json() if request_id != "life-probe" else await response.text()
                if request_id == "life-405":
                    assert response.headers["allow"] == "POST"
                if request_id == "life-401":
                    assert response.headers["www-authenticate"].startswith("Bearer")
        async with http.get(proxy.base_url + "/metrics") as response:
            exposition = await response.text()

    # Error shapes: OpenAI's, Anthropic's on the Messages API.
    assert bodies["life-401"] == {
        "error": {"message": bodies["life-401"]["error"]["message"], "type": "invalid_request_error"}  # type: ignore[index]
        | {"param": None, "code": "missing_api_key"}
    }
    assert bodies["life-msg-404"]["type"] == "error"  # type: ignore[index]
    assert bodies["life-msg-404"]["error"]["type"] == "not_found_error"  # type: ignore[index]
    assert bodies["life-url-404"]["error"]["code"] == "unknown_url"  # type: ignore[index]
    assert bodies["life-405"]["error"]["code"] == "method_not_allowed"  # type: ignore[index]
    assert bodies["life-502"]["error"]["message"]  # type: ignore[index]

    # One access line per API request, none for the probe; each carries the request's id and span.
    records = await _access_lines(caplog, len(EXPECTED))
    await asyncio.sleep(0.2)  # and no more arrive
    records = [r for r in caplog.records if r.name == ACCESS]
    spans = _server_spans(exporter)
    assert sorted(getattr(r, "request_id", None) for r in records) == sorted(EXPECTED) == sorted(spans)
    for record in records:
        request_id = record.request_id  # type: ignore[attr-defined]
        message = record.getMessage()
        assert message.startswith(EXPECTED[request_id][1]), message
        assert re.search(r" client_namespace=- duration_s=\d+\.\d{3} cost_usd=\S+$", message), message
        span = spans[request_id]
        context = span.get_span_context()
        assert context is not None
        assert (record.trace_id, record.span_id) == (f"{context.trace_id:032x}", f"{context.span_id:016x}")  # type: ignore[attr-defined]

    # The SERVER spans: the answer's status, an error only for 5xx; the first continues the client's trace.
    for request_id, (status, _) in EXPECTED.items():
        span = spans[request_id]
        assert (span.attributes or {})["http.response.status_code"] == status, request_id
        assert (span.status.status_code == StatusCode.ERROR) is (status >= 500), request_id
    assert f"{spans['life-ok'].get_span_context().trace_id:032x}" == CLIENT_TRACE  # type: ignore[union-attr]
    assert (spans["life-502"].attributes or {})["error.type"] == "502"
    assert spans["life-url-404"].name == "GET /v1/nope" and spans["life-ok"].name == "POST /v1/chat/completions"

    # Counted once each, with the labels the request found.
    for series in (
        'endpoint="chat/completions",profile="ok",provider="ok",status="200"} 1.0',
        'endpoint="chat/completions",profile="none",provider="none",status="401"} 1.0',
        'endpoint="messages",profile="none",provider="none",status="404"} 1.0',
        'api="other",endpoint="unmatched",profile="none",provider="none",status="404"} 1.0',
        'endpoint="unmatched",profile="none",provider="none",status="405"} 1.0',
        'endpoint="chat/completions",profile="down",provider="none",status="502"} 1.0',
    ):
        assert series in exposition, series
    team = 'switchboard_client_requests_total{client="team-a",client_namespace="-",status_class='
    assert f'{team}"2xx"}} 1.0' in exposition and f'{team}"4xx"}} 3.0' in exposition
    assert f'{team}"5xx"}} 1.0' in exposition
    assert 'switchboard_request_duration_seconds_count{api="chat",endpoint="chat/completions"' in exposition


async def test_repeated_answers_of_a_route_count_in_their_own_series(
    mock_upstream_factory: MockFactory, proxy_server: ProxyFactory
) -> None:
    """The lifecycle resolves a route's metric children once per (endpoint, profile, provider, status) and reuses
    them: every later answer still counts in exactly its own series."""
    mock = await mock_upstream_factory()
    proxy = await proxy_server(proxy_config([provider_config("a", "openai", mock.base_url)]))
    chat = {"model": "mock-model", "messages": [{"role": "user", "content": "hi"}]}
    asks = [chat, chat, {**chat, "model": "nope"}, chat, {**chat, "model": "nope"}, {**chat, "messages": "x"}]
    async with aiohttp.ClientSession() as http:
        for body in asks:
            async with http.post(proxy.openai_base_url + "/chat/completions", json=body) as response:
                await response.read()
    exposition = await metrics_text(proxy)
    route = 'switchboard_requests_total{api="chat",endpoint="chat/completions",profile='
    assert f'{route}"default",provider="a",status="200"}} 3.0' in exposition
    assert f'{route}"none",provider="none",status="404"}} 2.0' in exposition
    assert f'{route}"none",provider="none",status="400"}} 1.0' in exposition
    took = 'switchboard_request_duration_seconds_count{api="chat",endpoint="chat/completions",profile='
    assert f'{took}"default",provider="a"}} 3.0' in exposition
    assert f'{took}"none",provider="none"}} 3.0' in exposition
