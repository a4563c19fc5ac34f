"""GenAI metrics with the OpenTelemetry semantic-convention names, recorded per upstream attempt.

``gen_ai.client.token.usage`` and ``gen_ai.client.operation.duration`` describe
the proxy's calls to upstream models (the proxy is the GenAI client there);
``gen_ai.server.time_to_first_token`` and ``gen_ai.server.time_per_output_token``
describe what the proxy's own clients see of a stream, as Envoy AI Gateway
reports them. Bucket boundaries are the conventions' advice.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from opentelemetry.metrics import Histogram, Meter
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import GEN_AI_TOKEN_TYPE
from opentelemetry.semconv._incubating.metrics.gen_ai_metrics import (
    GEN_AI_CLIENT_OPERATION_DURATION,
    GEN_AI_CLIENT_TOKEN_USAGE,
    GEN_AI_SERVER_TIME_PER_OUTPUT_TOKEN,
    GEN_AI_SERVER_TIME_TO_FIRST_TOKEN,
)

from switchboard.proxy.adapters.base import Usage

_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
_TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
_TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)

Attributes = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class GenAiMetrics:
    token_usage: Histogram
    operation_duration: Histogram
    time_to_first_token: Histogram
    time_per_output_token: Histogram

    @classmethod
    def on(cls, meter: Meter) -> "GenAiMetrics":
        return cls(
            token_usage=meter.create_histogram(
                GEN_AI_CLIENT_TOKEN_USAGE,
                unit="{token}",
                description="Number of input and output tokens used.",
                explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
            ),
            operation_duration=meter.create_histogram(
                GEN_AI_CLIENT_OPERATION_DURATION,
                unit="s",
                description="GenAI operation duration.",
                explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
            ),
            time_to_first_token=meter.create_histogram(
                GEN_AI_SERVER_TIME_TO_FIRST_TOKEN,
                unit="s",
                description="Time to generate first token for successful responses.",
                explicit_bucket_boundaries_advisory=_TTFT_BUCKETS,
            ),
            time_per_output_token=meter.create_histogram(
                GEN_AI_SERVER_TIME_PER_OUTPUT_TOKEN,
                unit="s",
                description="Time per output token generated after the first token for successful responses.",
                explicit_bucket_boundaries_advisory=_TPOT_BUCKETS,
            ),
        )

    def attempt_done(self, attributes: Attributes, duration_s: float, usage: Usage | None) -> None:
        """One upstream call ended (``error.type`` among the attributes when it failed)."""
        self.operation_duration.record(duration_s, attributes)
        if usage is not None:
            self.token_usage.record(usage.prompt_tokens, {**attributes, GEN_AI_TOKEN_TYPE: "input"})
            self.token_usage.record(usage.completion_tokens, {**attributes, GEN_AI_TOKEN_TYPE: "output"})

    def stream_done(self, attributes: Attributes, first_token_s: float, duration_s: float, output_tokens: int) -> None:
        """A stream the client received whole: its first-token time and the pace of the tokens after it."""
        self.time_to_first_token.record(first_token_s, attributes)
        if output_tokens > 1:
            self.time_per_output_token.record(max(0.0, duration_s - first_token_s) / (output_tokens - 1), attributes)
