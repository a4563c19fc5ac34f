"""Pure parts of the telemetry: OTEL_* settings, span attributes, content capture, the attempt span's outcome."""

import json

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import INVALID_SPAN, Span, StatusCode

from switchboard.api.profile import ProfileConfig, ProviderRef
from switchboard.api.provider import ProviderModel
from switchboard.proxy.adapters.base import Usage
from switchboard.proxy.routing.types import Attempt, Outcome
from switchboard.proxy.telemetry.answers import ChatStreamReader
from switchboard.proxy.telemetry.attributes import attempt_attributes, provider_name
from switchboard.proxy.telemetry.content import MAX_CONTENT_CHARS, StreamedOutput, input_attributes, output_attributes
from switchboard.proxy.telemetry.genai import GenAiMetrics
from switchboard.proxy.telemetry.settings import SignalSettings, TelemetrySettings, TelemetrySettingsError
from switchboard.proxy.telemetry.setup import Telemetry
from switchboard.proxy.telemetry.spans import attempt_trace
from tests.fixtures.proxy import provider_config


@pytest.mark.parametrize(
    ("env", "traces", "metrics"),
    [
        ({}, (), ()),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, ("otlp",), ("otlp",)),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, ("otlp",), ()),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_METRICS_EXPORTER": "none"}, ("otlp",), ()),
        ({"OTEL_TRACES_EXPORTER": "console,otlp"}, ("console", "otlp"), ()),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, (), ()),
    ],
)
def test_signals_are_off_unless_configured(
    env: dict[str, str], traces: tuple[str, ...], metrics: tuple[str, ...]
) -> None:
    settings = TelemetrySettings.from_env(env)
    assert settings.traces.exporters == traces
    assert settings.metrics.exporters == metrics


def test_protocol_per_signal_overrides_the_general_one() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf",
    }
    settings = TelemetrySettings.from_env(env)
    assert settings.traces == SignalSettings(("otlp",), "grpc")
    assert settings.metrics == SignalSettings(("otlp",), "http/protobuf")
    assert TelemetrySettings.from_env({"OTEL_TRACES_EXPORTER": "otlp"}).traces.protocol == "http/protobuf"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_PROTOCOL"),
        ({"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "thrift"}, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"),
        ({"OTEL_METRICS_EXEMPLAR_FILTER": "sometimes"}, "OTEL_METRICS_EXEMPLAR_FILTER"),
    ],
)
def test_values_that_cannot_be_honoured_are_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(TelemetrySettingsError, match=named):
        TelemetrySettings.from_env(env)


def test_exemplars_are_off_unless_asked_for() -> None:
    assert TelemetrySettings.from_env({}).exemplars == "always_off"
    asked = TelemetrySettings.from_env({"OTEL_METRICS_EXEMPLAR_FILTER": "trace_based"})
    assert asked.exemplars == "trace_based"


def _attempt(provider_type: str = "openai") -> Attempt:
    provider = provider_config("prov", provider_type, "https://llm.example:8443")
    provider = provider.model_copy(update={"models": (ProviderModel(name="public", upstream_name="deploy-1"),)})
    profile = ProfileConfig(name="chat", namespace="team-a", models=("public",), providers=(ProviderRef(name="prov"),))
    return Attempt(provider, provider.models[0], profile, provider.timeouts, None)


def test_attempt_attributes_name_the_upstream_model_and_provider() -> None:
    attributes = attempt_attributes(_attempt("azure-openai"), "chat", 2)
    assert attributes["gen_ai.provider.name"] == "azure.ai.openai"
    assert attributes["gen_ai.request.model"] == "deploy-1"
    assert attributes["switchboard.profile"] == "team-a/chat"
    assert attributes["switchboard.attempt"] == 2
    assert (attributes["server.address"], attributes["server.port"]) == ("llm.example", 8443)
    assert provider_name("openai-compatible") == "openai" and provider_name("gemini") == "gcp.gemini"


def test_finish_reasons_are_found_in_stream_events() -> None:
    events = [
        b'data: {"choices":[{"delta":{"content":"x"},"finish_reason":null}]}\n\n',
        b'data: {"choices":[{"finish_reason": "length"}]}\n\n',
    ]
    reader = ChatStreamReader(capture=False)
    reader.feed(events)
    assert reader.attributes() == {"gen_ai.response.finish_reasons": ["length"]}  # the first chunk had no id


def _telemetry() -> tuple[Telemetry, Span, InMemorySpanExporter, InMemoryMetricReader]:
    exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    meters = MeterProvider(metric_readers=[reader])
    tracer = provider.get_tracer("t")
    telemetry = Telemetry(tracer, GenAiMetrics.on(meters.get_meter("t")), True, provider, meters)
    return telemetry, tracer.start_span("request"), exporter, reader


def test_attempt_span_records_one_outcome_and_the_genai_metrics() -> None:
    telemetry, request_span, exporter, reader = _telemetry()
    attempt = _attempt()
    with attempt_trace(telemetry, request_span, attempt, endpoint="chat/completions", number=1) as traced:
        traced.saw_events([b'data: {"choices":[{"finish_reason":"stop"}]}\n\n'])
        traced.ended(Outcome("success", 0.1, 200), usage=Usage(7, 3), cost_usd=0.5, first_token_at=traced.started)
        traced.ended(Outcome("server_error", 0.1, 503))  # a second report is ignored
    with attempt_trace(telemetry, request_span, attempt, endpoint="chat/completions", number=2) as traced:
        assert trace.get_current_span() is traced.span  # so the upstream call's traceparent names it
        traced.ended(Outcome("server_error", 0.2, 503), error="upstream answered 503")
    assert trace.get_current_span() is not traced.span
    with attempt_trace(telemetry, request_span, attempt, endpoint="chat/completions", number=3):
        pass  # no outcome reported: still ends, as an error
    request_span.end()
    ok, failed, abandoned, request_span = exporter.get_finished_spans()
    assert (
        request_span.attributes["switchboard.provider"] == "prov"
        and request_span.attributes["switchboard.cost_usd"] == 0.5
    )
    assert ok.name == "chat deploy-1" and ok.status.status_code == StatusCode.UNSET
    assert ok.attributes["gen_ai.usage.input_tokens"] == 7 and ok.attributes["gen_ai.usage.output_tokens"] == 3
    assert ok.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert ok.attributes["switchboard.cost_usd"] == 0.5 and ok.attributes["gen_ai.response.model"] == "public"
    assert failed.status.status_code == StatusCode.ERROR and failed.status.description == "upstream answered 503"
    assert failed.attributes["error.type"] == "503" and failed.attributes["switchboard.failure_kind"] == "server_error"
    assert abandoned.attributes["error.type"] == "abandoned"
    data = reader.get_metrics_data()
    metrics = {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    durations = metrics["gen_ai.client.operation.duration"].data.data_points
    assert sorted(p.attributes.get("error.type", "-") for p in durations) == ["-", "503"]
    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in metrics["gen_ai.client.token.usage"].data.data_points}
    assert tokens == {"input": 7, "output": 3}
    assert "gen_ai.server.time_to_first_token" in metrics and "gen_ai.server.time_per_output_token" in metrics


def test_content_attributes_follow_the_conventions_shape() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "data:..."}}],
            },
        ]
    }
    messages = json.loads(input_attributes(body)["gen_ai.input.messages"])
    assert messages[0] == {"role": "system", "parts": [{"type": "text", "content": "be brief"}]}
    assert messages[1]["parts"] == [{"type": "text", "content": "hi"}, {"type": "image_url"}]  # never the image
    answer = {"choices": [{"message": {"role": "assistant", "content": "yo"}, "finish_reason": "stop"}]}
    out = json.loads(output_attributes(answer)["gen_ai.output.messages"])
    assert out == [{"role": "assistant", "parts": [{"type": "text", "content": "yo"}], "finish_reason": "stop"}]
    assert json.loads(input_attributes({"input": ["a", "b"]})["gen_ai.input.messages"])[1]["parts"][0]["content"] == "b"


def test_streamed_output_is_rebuilt_and_huge_content_stays_valid_json() -> None:
    stream = StreamedOutput()
    stream.feed([b'data: {"choices":[{"index":0,"delta":{"content":"he"}}]}\n\n', b": keep-alive\n\n"])
    stream.feed(
        [b'data: {"choices":[{"index":0,"delta":{"content":"llo"},"finish_reason":"stop"}]}\n\n', b"data: [DONE]\n\n"]
    )
    out = json.loads(stream.attributes()["gen_ai.output.messages"])
    assert out == [{"role": "assistant", "parts": [{"type": "text", "content": "hello"}], "finish_reason": "stop"}]
    huge = {"messages": [{"role": "user", "content": "x" * MAX_CONTENT_CHARS}] * 10}
    encoded = input_attributes(huge)["gen_ai.input.messages"]
    assert len(encoded) <= MAX_CONTENT_CHARS and json.loads(encoded)


def test_tracing_off_opens_no_attempt_span_and_measures_nothing() -> None:
    before = trace.get_current_span()
    # Nothing to report an outcome to: no span, no GenAI measurements, and the client's context stays current.
    off = attempt_trace(Telemetry.off(), INVALID_SPAN, _attempt(), endpoint="chat/completions", number=1)
    assert off is None
    assert trace.get_current_span() is before


def test_a_sampled_out_request_has_no_attempt_span_but_is_measured() -> None:
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    provider = TracerProvider(sampler=ALWAYS_OFF)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    telemetry = Telemetry(tracer, GenAiMetrics.on(meters.get_meter("t")), True, provider, meters)
    request_span = tracer.start_span("request")
    with attempt_trace(telemetry, request_span, _attempt(), endpoint="chat/completions", number=1) as traced:
        assert traced.span is INVALID_SPAN and traced.attributes["switchboard.attempt"] == 1
        traced.ended(Outcome("success", 0.1, 200), usage=Usage(2, 1))
    assert exporter.get_finished_spans() == ()
    data = reader.get_metrics_data()
    assert {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics} == {
        "gen_ai.client.token.usage",
        "gen_ai.client.operation.duration",
    }
