"""OpenTelemetry for the proxy: traces and GenAI metrics over OTLP, configured by the standard ``OTEL_*`` variables."""
