"""Span and metric attributes (pure): the GenAI semantic conventions plus ``switchboard.*``."""

from collections.abc import Mapping
from typing import Any

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.http_attributes import HTTP_RESPONSE_STATUS_CODE
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT

from switchboard.proxy.adapters.base import Usage
from switchboard.proxy.routing.types import Attempt, Outcome, Plan

PROFILE = "switchboard.profile"
STRATEGY = "switchboard.strategy"
PROVIDER = "switchboard.provider"
ATTEMPT = "switchboard.attempt"
FAILURE_KIND = "switchboard.failure_kind"
COST_USD = "switchboard.cost_usd"
REQUEST_ID = "switchboard.request_id"

_PROVIDER_NAMES = {
    "openai": "openai",
    "openai-compatible": "openai",  # speaks OpenAI's API; the LLMProvider's own name is switchboard.provider
    "azure-openai": "azure.ai.openai",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
}
_METRIC_KEYS = (
    gen_ai.GEN_AI_OPERATION_NAME,
    gen_ai.GEN_AI_PROVIDER_NAME,
    gen_ai.GEN_AI_REQUEST_MODEL,
    SERVER_ADDRESS,
    PROFILE,
    PROVIDER,
)


def provider_name(provider_type: str) -> str:
    """``gen_ai.provider.name`` of an LLMProvider type (the conventions' well-known values)."""
    return _PROVIDER_NAMES.get(provider_type, provider_type)


def operation_name(endpoint: str) -> str:
    """``gen_ai.operation.name`` of a proxy endpoint: ``embeddings``, else ``chat``."""
    return "embeddings" if endpoint in ("embeddings", "/v1/embeddings") else "chat"


def plan_attributes(plan: Plan, endpoint: str, model: str) -> dict[str, Any]:
    """What the request span knows once routed: operation, requested model, profile, strategy."""
    return {
        gen_ai.GEN_AI_OPERATION_NAME: operation_name(endpoint),
        gen_ai.GEN_AI_REQUEST_MODEL: model,
        PROFILE: plan.profile.key,
        STRATEGY: plan.strategy,
    }


def attempt_attributes(attempt: Attempt, operation: str, number: int) -> dict[str, Any]:
    """The attempt span's (and its metrics') identity: which provider, which upstream model, which try."""
    attributes: dict[str, Any] = {
        gen_ai.GEN_AI_OPERATION_NAME: operation,
        gen_ai.GEN_AI_PROVIDER_NAME: provider_name(attempt.provider.type),
        gen_ai.GEN_AI_REQUEST_MODEL: attempt.model.upstream,
        PROFILE: attempt.profile.key,
        PROVIDER: attempt.provider.key,
        ATTEMPT: number,
    }
    server = attempt.provider.server
    if server is not None:
        attributes[SERVER_ADDRESS], attributes[SERVER_PORT] = server
    return attributes


def metric_attributes(attributes: Mapping[str, Any]) -> dict[str, str]:
    """The low-cardinality subset the GenAI metrics carry (never the attempt number or ids)."""
    return {k: str(attributes[k]) for k in _METRIC_KEYS if k in attributes}


def served_attributes(attempt: Attempt, usage: Usage | None, cost_usd: float | None) -> dict[str, Any]:
    """The request span's view of the attempt that served it."""
    attributes: dict[str, Any] = {
        gen_ai.GEN_AI_PROVIDER_NAME: provider_name(attempt.provider.type),
        gen_ai.GEN_AI_RESPONSE_MODEL: attempt.model.name,
        PROVIDER: attempt.provider.key,
    }
    if usage is not None:
        attributes.update(usage_attributes(usage))
    if cost_usd is not None:
        attributes[COST_USD] = cost_usd
    return attributes


def usage_attributes(usage: Usage) -> dict[str, int]:
    return {
        gen_ai.GEN_AI_USAGE_INPUT_TOKENS: usage.prompt_tokens,
        gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS: usage.completion_tokens,
    }


def error_type(outcome: Outcome) -> str:
    """``error.type``: the upstream's HTTP status when it answered one, else the outcome's kind."""
    return str(outcome.status) if outcome.status and outcome.status >= 400 else outcome.kind


def outcome_attributes(outcome: Outcome) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if outcome.status:
        attributes[HTTP_RESPONSE_STATUS_CODE] = outcome.status
    if outcome.kind != "success":
        attributes[ERROR_TYPE] = error_type(outcome)
        attributes[FAILURE_KIND] = outcome.kind
    return attributes
