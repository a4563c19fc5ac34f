"""Which signals to export, and how, from the standard ``OTEL_*`` environment variables (pure).

Tracing and OTLP metrics are off unless configured: a signal is on when its
exporter is named (``OTEL_TRACES_EXPORTER=otlp``, ``OTEL_METRICS_EXPORTER=otlp``)
or, with the exporter variable unset, when an OTLP endpoint for it is set
(``OTEL_EXPORTER_OTLP_ENDPOINT`` or the signal's own ``..._TRACES_ENDPOINT`` /
``..._METRICS_ENDPOINT``). ``OTEL_SDK_DISABLED=true`` turns everything off.
Endpoint, headers, timeout, compression and TLS are read by the OTLP exporters
themselves; the sampler (``OTEL_TRACES_SAMPLER``), batching (``OTEL_BSP_*``),
export interval (``OTEL_METRIC_EXPORT_INTERVAL``) and resource
(``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``) by the SDK.

Exemplars (``OTEL_METRICS_EXEMPLAR_FILTER``) default to ``always_off`` here,
not the SDK's ``trace_based``: offering every GenAI histogram record of a
sampled request as an exemplar cost about a quarter of the telemetry's CPU per
request (docs/observability.md); ``trace_based`` or ``always_on`` turn them on.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast

Protocol = Literal["grpc", "http/protobuf"]
Exporter = Literal["otlp", "console"]
PROTOCOLS: tuple[Protocol, ...] = ("grpc", "http/protobuf")
EXPORTERS: tuple[Exporter, ...] = ("otlp", "console")
DEFAULT_PROTOCOL: Protocol = "http/protobuf"  # the specification's default
ExemplarFilter = Literal["always_off", "trace_based", "always_on"]
EXEMPLAR_FILTERS: tuple[ExemplarFilter, ...] = ("always_off", "trace_based", "always_on")


class TelemetrySettingsError(ValueError):
    """An ``OTEL_*`` variable has a value the proxy cannot honour; the message names it."""


@dataclass(frozen=True, slots=True)
class SignalSettings:
    exporters: tuple[Exporter, ...]
    protocol: Protocol

    @property
    def enabled(self) -> bool:
        return bool(self.exporters)


@dataclass(frozen=True, slots=True)
class TelemetrySettings:
    traces: SignalSettings
    metrics: SignalSettings
    exemplars: ExemplarFilter = "always_off"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "TelemetrySettings":
        if _get(environ, "OTEL_SDK_DISABLED").lower() == "true":
            off = SignalSettings((), DEFAULT_PROTOCOL)
            return cls(off, off)
        return cls(_signal(environ, "TRACES"), _signal(environ, "METRICS"), _exemplars(environ))


def _get(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name, "").strip()


def _exemplars(environ: Mapping[str, str]) -> ExemplarFilter:
    named = _get(environ, "OTEL_METRICS_EXEMPLAR_FILTER") or "always_off"
    if named not in EXEMPLAR_FILTERS:
        raise TelemetrySettingsError(
            f"OTEL_METRICS_EXEMPLAR_FILTER={named!r} is not supported; use one of {', '.join(EXEMPLAR_FILTERS)}"
        )
    return named


def _signal(environ: Mapping[str, str], signal: str) -> SignalSettings:
    protocol_var = f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL"
    protocol = _get(environ, protocol_var) or _get(environ, "OTEL_EXPORTER_OTLP_PROTOCOL") or DEFAULT_PROTOCOL
    if protocol not in PROTOCOLS:
        name = protocol_var if _get(environ, protocol_var) else "OTEL_EXPORTER_OTLP_PROTOCOL"
        raise TelemetrySettingsError(f"{name}={protocol!r} is not supported; use one of {', '.join(PROTOCOLS)}")
    chosen: Protocol = protocol
    exporter_var = f"OTEL_{signal}_EXPORTER"
    named = _get(environ, exporter_var)
    if not named:
        endpoint = _get(environ, f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT") or _get(
            environ, "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        return SignalSettings(("otlp",) if endpoint else (), chosen)
    exporters = tuple(dict.fromkeys(part.strip() for part in named.split(",") if part.strip()))
    if exporters == ("none",):
        return SignalSettings((), chosen)
    unknown = [e for e in exporters if e not in EXPORTERS]
    if unknown:
        raise TelemetrySettingsError(
            f"{exporter_var}={named!r}: unknown exporter {unknown[0]!r}; use otlp, console or none"
        )
    return SignalSettings(cast(tuple[Exporter, ...], exporters), chosen)
