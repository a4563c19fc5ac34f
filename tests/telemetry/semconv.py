"""Checking received spans against the OpenTelemetry semantic conventions (the pinned semconv package)."""

from typing import Any

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes
from opentelemetry.semconv.attributes import error_attributes, http_attributes, server_attributes, url_attributes

from tests.fixtures.otlp import ReceivedSpan

_DEPRECATED = {
    "gen_ai.system",
    "gen_ai.prompt",
    "gen_ai.completion",
    "gen_ai.usage.prompt_tokens",
    "gen_ai.usage.completion_tokens",
}
_SWITCHBOARD = {
    "switchboard.profile",
    "switchboard.strategy",
    "switchboard.provider",
    "switchboard.attempt",
    "switchboard.failure_kind",
    "switchboard.cost_usd",
    "switchboard.request_id",
}


def _constants(*modules: Any) -> set[str]:
    return {v for m in modules for k, v in vars(m).items() if k.isupper() and isinstance(v, str)}


SEMCONV_KEYS = _constants(gen_ai_attributes, error_attributes, http_attributes, server_attributes, url_attributes)
OPERATIONS = {v.value for v in gen_ai_attributes.GenAiOperationNameValues}
PROVIDERS = {v.value for v in gen_ai_attributes.GenAiProviderNameValues}


def children(spans: list[ReceivedSpan], parent: ReceivedSpan) -> list[ReceivedSpan]:
    return sorted(
        (s for s in spans if s.parent_span_id == parent.span_id), key=lambda s: s.attributes["switchboard.attempt"]
    )


def request_span(spans: list[ReceivedSpan], request_id: str) -> ReceivedSpan:
    return next(s for s in spans if s.kind == "server" and s.attributes.get("switchboard.request_id") == request_id)


def check_semconv(spans: list[ReceivedSpan]) -> None:
    for span in spans:
        for key, value in span.attributes.items():
            if key.startswith("switchboard."):
                assert key in _SWITCHBOARD, key
            else:
                assert key in SEMCONV_KEYS and key not in _DEPRECATED, key
            if key == "gen_ai.operation.name":
                assert value in OPERATIONS
            if key == "gen_ai.provider.name":
                assert value in PROVIDERS
