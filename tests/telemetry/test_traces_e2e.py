"""Traces and GenAI metrics of the real proxy CLI, received by a real OTLP endpoint (HTTP and gRPC).

Chat, streaming, failover, an upstream error, embeddings, the Messages and
Responses APIs (same serve path, same spans) and a profile that captures
content; the received spans and metric points are checked against the
OpenTelemetry semantic conventions (the pinned ``opentelemetry-semantic-conventions``).
"""

import json
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from switchboard.api.config import ProxyConfig
from switchboard.api.profile import ProfileConfig, ProviderRef, RetryPolicy, TracingPolicy
from switchboard.api.provider import Pricing, ProviderModel
from tests.fixtures.otlp import OtlpReceiver, otel_env
from tests.fixtures.proxy import provider_config, start_proxy_cli, stop_process
from tests.fixtures.upstream import MockFactory
from tests.telemetry.semconv import OPERATIONS, check_semconv, children, request_span

CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
PRICED = ProviderModel(name="mock-model", pricing=Pricing(input_per_million=2.0, output_per_million=8.0))
MESSAGES = [{"role": "user", "content": "secret prompt text"}]

OPERATIONS_USED = {"chat", "embeddings"}


def _config(broken_url: str, healthy_url: str) -> ProxyConfig:
    retry = RetryPolicy(backoff_base_ms=1, backoff_max_ms=5, max_retries=2)
    return ProxyConfig(
        providers=(
            provider_config("broken", "openai", broken_url, models=("mock-model", "flaky-model")),
            provider_config("healthy", "openai", healthy_url, models=("mock-model", "captured-model")).model_copy(
                update={"models": (PRICED, ProviderModel(name="captured-model"))}
            ),
        ),
        profiles=(
            ProfileConfig(
                name="chat",
                models=("mock-model",),
                providers=(ProviderRef(name="broken"), ProviderRef(name="healthy")),
                retry=retry,
            ),
            ProfileConfig(name="flaky", models=("flaky-model",), providers=(ProviderRef(name="broken"),), retry=retry),
            ProfileConfig(
                name="captured",
                models=("captured-model",),
                providers=(ProviderRef(name="healthy"),),
                retry=retry,
                tracing=TracingPolicy(capture_content=True),
            ),
        ),
    )


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
async def test_traces_and_genai_metrics_reach_a_real_otlp_endpoint(
    protocol: str, otlp_receiver: Any, mock_upstream_factory: MockFactory, tmp_path: Path
) -> None:
    receiver: OtlpReceiver = await otlp_receiver()
    broken, healthy = await mock_upstream_factory(), await mock_upstream_factory()
    await broken.set_faults("*", status=503)
    config_path = tmp_path / "proxy.yaml"
    config_path.write_text(json.dumps(_config(broken.base_url, healthy.base_url).to_wire()))
    log_path = tmp_path / "proxy.log"
    log_file = log_path.open("wb")
    process, url = await start_proxy_cli(
        "--config", str(config_path), "--log-format", "json", env=otel_env(receiver, protocol), stderr=log_file
    )
    try:
        async with openai.AsyncOpenAI(base_url=url + "/v1", api_key="c", max_retries=0) as client:
            traceparent = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"
            failover = await client.chat.completions.with_raw_response.create(
                model="mock-model",
                messages=MESSAGES,
                extra_headers={"traceparent": traceparent, "x-request-id": "failover-1"},
            )
            assert failover.headers["x-switchboard-attempts"] == "2"
            stream = await client.chat.completions.create(
                model="mock-model", messages=MESSAGES, stream=True, extra_headers={"x-request-id": "stream-1"}
            )
            assert (
                "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]) == MESSAGES[0]["content"]
            )
            with pytest.raises(openai.APIStatusError) as failed:
                await client.chat.completions.create(
                    model="flaky-model", messages=MESSAGES, extra_headers={"x-request-id": "error-1"}
                )
            assert failed.value.status_code == 502
            await client.chat.completions.create(
                model="captured-model", messages=MESSAGES, extra_headers={"x-request-id": "captured-1"}
            )
            await client.embeddings.create(
                model="mock-model", input="embed me", extra_headers={"x-request-id": "embed-1"}
            )
            events = await client.responses.create(
                model="mock-model",
                input="secret prompt text",
                stream=True,
                extra_headers={"x-request-id": "responses-1"},
            )
            assert [e.type async for e in events][-1] == "response.completed"
        async with anthropic.AsyncAnthropic(base_url=url, api_key="c", max_retries=0) as claude:
            message = await claude.messages.create(
                model="mock-model", max_tokens=64, messages=MESSAGES, extra_headers={"x-request-id": "messages-1"}
            )
            assert message.stop_reason == "end_turn"
        # Attempt spans end before their request span, so they are exported first.
        spans = await receiver.wait_for_spans(lambda got: sum(s.kind == "server" for s in got) >= 7, "7 request spans")
        upstream_saw = await healthy.requests("mock-model")
        # Exports are periodic and cumulative: wait for one made after the last request.
        durations = await receiver.wait_for_metric(
            "gen_ai.client.operation.duration",
            lambda got: {p.attributes.get("error.type") for p in got} >= {None, "503"},
        )
        tokens = await receiver.wait_for_metric(
            "gen_ai.client.token.usage",
            lambda got: {p.attributes.get("gen_ai.operation.name") for p in got} >= OPERATIONS_USED,
        )
        first_token = await receiver.wait_for_metric("gen_ai.server.time_to_first_token")
    finally:
        await stop_process(process)
        log_file.close()
    assert set(receiver.transports) == {"grpc" if protocol == "grpc" else "http"}
    check_semconv(spans)
    assert {s.resource.get("service.name") for s in spans} == {"switchboard-proxy-test"}

    # Failover: one trace continuing the client's, two attempt spans that tell the story.
    request = request_span(spans, "failover-1")
    assert (request.trace_id, request.parent_span_id) == (CLIENT_TRACE, CLIENT_SPAN)
    assert request.attributes["http.response.status_code"] == 200
    assert request.attributes["gen_ai.request.model"] == "mock-model"
    assert request.attributes["switchboard.profile"] == "chat"
    first, second = children(spans, request)
    assert first.trace_id == second.trace_id == CLIENT_TRACE
    assert first.kind == second.kind == "client" and first.name == "chat mock-model"
    assert first.attributes["switchboard.provider"] == "broken" and first.status == "error"
    assert first.attributes["error.type"] == "503" and first.attributes["switchboard.failure_kind"] == "server_error"
    assert first.attributes["http.response.status_code"] == 503
    assert second.attributes["switchboard.provider"] == "healthy" and second.status == "unset"
    assert second.attributes["switchboard.attempt"] == 2 and request.attributes["switchboard.strategy"] == "failover"
    assert second.attributes["gen_ai.provider.name"] == "openai"
    assert second.attributes["gen_ai.usage.input_tokens"] > 0 and second.attributes["gen_ai.usage.output_tokens"] > 0
    assert second.attributes["gen_ai.response.finish_reasons"] == ["stop"]
    assert second.attributes["switchboard.cost_usd"] == request.attributes["switchboard.cost_usd"] > 0
    assert request.attributes["switchboard.provider"] == "healthy"
    assert request.attributes["gen_ai.usage.output_tokens"] == second.attributes["gen_ai.usage.output_tokens"]
    # Log lines join the trace: the attempt's warning names the failed attempt's span, the access line the request's.
    logged = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    mine = [e for e in logged if e.get("request_id") == "failover-1"]
    warning = next(e for e in mine if e["logger"] == "switchboard.proxy.upstream")
    access = next(e for e in mine if e["logger"] == "switchboard.proxy.access")
    assert (warning["trace_id"], warning["span_id"]) == (CLIENT_TRACE, first.span_id)
    assert (access["trace_id"], access["span_id"]) == (CLIENT_TRACE, request.span_id)
    # The upstream that answered saw the trace continued, with the answering attempt as parent.
    assert f"00-{CLIENT_TRACE}-{second.span_id}-01" in [r["traceparent"] for r in upstream_saw]

    stream_request = request_span(spans, "stream-1")
    stream_attempts = children(spans, stream_request)
    assert [a.attributes["switchboard.provider"] for a in stream_attempts] == ["broken", "healthy"]
    streamed = stream_attempts[-1]
    assert streamed.attributes["gen_ai.usage.output_tokens"] > 0
    assert streamed.attributes["gen_ai.response.finish_reasons"] == ["stop"]
    assert streamed.end_ns >= stream_request.start_ns and stream_request.trace_id != CLIENT_TRACE

    error_request = request_span(spans, "error-1")
    assert error_request.status == "error" and error_request.attributes["http.response.status_code"] == 502
    assert all(a.attributes["error.type"] == "503" for a in children(spans, error_request))

    embed_attempts = children(spans, request_span(spans, "embed-1"))
    assert embed_attempts[-1].attributes["gen_ai.operation.name"] == "embeddings"

    # Responses and Messages: the same request span and attempt spans (failover included) as chat.
    for request_id, path in (("responses-1", "/v1/responses"), ("messages-1", "/v1/messages")):
        api_request = request_span(spans, request_id)
        assert api_request.attributes["url.path"] == path and api_request.attributes["http.response.status_code"] == 200
        api_attempts = children(spans, api_request)
        assert [a.attributes["switchboard.provider"] for a in api_attempts] == ["broken", "healthy"]
        assert api_attempts[0].attributes["error.type"] == "503"
        assert api_attempts[-1].name == "chat mock-model"
        assert api_attempts[-1].attributes["gen_ai.usage.output_tokens"] > 0
        assert api_request.attributes["switchboard.provider"] == "healthy"

    # Content only where the profile asks for it.
    captured = request_span(spans, "captured-1")
    assert json.loads(captured.attributes["gen_ai.input.messages"])[0]["parts"][0]["content"] == MESSAGES[0]["content"]
    assert json.loads(captured.attributes["gen_ai.output.messages"])[0]["finish_reason"] == "stop"
    elsewhere = [s for s in spans if s.trace_id != captured.trace_id]
    assert not any("secret prompt" in json.dumps(s.attributes) for s in elsewhere)

    # GenAI metrics with the conventions' names and attributes.
    assert all(p.unit == "s" for p in durations)
    assert {p.attributes["gen_ai.token.type"] for p in tokens} == {"input", "output"}
    assert all(p.attributes["gen_ai.operation.name"] in OPERATIONS for p in tokens)
    assert {p.attributes["switchboard.provider"] for p in tokens} == {"healthy"}
    assert sum(p.count or 0 for p in first_token) >= 1
