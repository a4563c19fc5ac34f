"""The proxy's tracer and GenAI instruments: SDK providers exporting over OTLP, or no-ops when off.

One ``Telemetry`` per process (built by the CLI, passed to ``create_app``);
providers are never installed globally, so several apps in one process (tests)
never share exporters. Context travels as W3C trace context only
(``http/tracing.py`` in, ``transport.send`` out).
"""

import functools
import os
from dataclasses import dataclass, field

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import (
    AlwaysOffExemplarFilter,
    AlwaysOnExemplarFilter,
    ExemplarFilter,
    MeterProvider,
    TraceBasedExemplarFilter,
)
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from switchboard.proxy.telemetry.genai import GenAiMetrics
from switchboard.proxy.telemetry.settings import ExemplarFilter as ExemplarFilterName
from switchboard.proxy.telemetry.settings import Protocol, SignalSettings, TelemetrySettings

INSTRUMENTATION_SCOPE = "switchboard.proxy"
DEFAULT_SERVICE_NAME = "switchboard-proxy"


@dataclass(frozen=True)
class Telemetry:
    tracer: trace.Tracer
    genai: GenAiMetrics
    tracing: bool = False
    """True when spans are recorded and exported; False: a no-op tracer (``traceparent`` passes through)."""
    _tracer_provider: TracerProvider | None = field(default=None, repr=False)
    _meter_provider: MeterProvider | None = field(default=None, repr=False)

    @classmethod
    def off(cls) -> "Telemetry":
        return cls(trace.NoOpTracer(), GenAiMetrics.on(metrics.NoOpMeter(INSTRUMENTATION_SCOPE)))

    @classmethod
    def from_env(cls) -> "Telemetry":
        """Providers as the process's ``OTEL_*`` variables say (the exporters read them too).

        Raises TelemetrySettingsError for a value the proxy cannot honour.
        """
        settings = TelemetrySettings.from_env(os.environ)
        if not settings.traces.enabled and not settings.metrics.enabled:
            return cls.off()
        resource = _resource()
        tracer_provider = _tracer_provider(settings.traces, resource) if settings.traces.enabled else None
        meter_provider = (
            _meter_provider(settings.metrics, resource, settings.exemplars) if settings.metrics.enabled else None
        )
        tracer = tracer_provider.get_tracer(INSTRUMENTATION_SCOPE) if tracer_provider else trace.NoOpTracer()
        meter = (
            meter_provider.get_meter(INSTRUMENTATION_SCOPE)
            if meter_provider
            else metrics.NoOpMeter(INSTRUMENTATION_SCOPE)
        )
        return cls(tracer, GenAiMetrics.on(meter), tracer_provider is not None, tracer_provider, meter_provider)

    @functools.cached_property
    def metering(self) -> bool:
        """True when the GenAI metrics are exported; False: their instruments are no-ops.

        Read per attempt: worked out once (the providers never change)."""
        return self._meter_provider is not None

    def shutdown(self) -> None:
        """Export what is buffered and stop the exporters (at process exit)."""
        if self._tracer_provider is not None:
            self._tracer_provider.shutdown()
        if self._meter_provider is not None:
            self._meter_provider.shutdown()


def _resource() -> Resource:
    """The SDK's resource (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``); default name ``switchboard-proxy``."""
    detected = Resource.create()
    if str(detected.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        return detected.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    return detected


def _tracer_provider(signal: SignalSettings, resource: Resource) -> TracerProvider:
    provider = TracerProvider(resource=resource)  # sampler from OTEL_TRACES_SAMPLER (default: parent-based, always on)
    for name in signal.exporters:
        exporter = ConsoleSpanExporter() if name == "console" else _otlp_span_exporter(signal.protocol)
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


_EXEMPLAR_FILTERS: dict[ExemplarFilterName, type[ExemplarFilter]] = {
    "always_off": AlwaysOffExemplarFilter,
    "trace_based": TraceBasedExemplarFilter,
    "always_on": AlwaysOnExemplarFilter,
}


def _meter_provider(signal: SignalSettings, resource: Resource, exemplars: ExemplarFilterName) -> MeterProvider:
    readers = [
        PeriodicExportingMetricReader(
            ConsoleMetricExporter() if name == "console" else _otlp_metric_exporter(signal.protocol)
        )
        for name in signal.exporters
    ]
    return MeterProvider(metric_readers=readers, resource=resource, exemplar_filter=_EXEMPLAR_FILTERS[exemplars]())


def _otlp_span_exporter(protocol: Protocol) -> SpanExporter:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter

        return GrpcSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter

    return HttpSpanExporter()


def _otlp_metric_exporter(protocol: Protocol) -> MetricExporter:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter

        return GrpcMetricExporter()
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter

    return HttpMetricExporter()
