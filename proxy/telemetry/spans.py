"""Span attributes (pure) and the per-attempt span: GenAI semantic conventions plus ``switchboard.*``.

A request is one SERVER span (``http.tracing``); each upstream attempt is one
CLIENT child span opened by ``attempt_span`` around the call, current while
the upstream request is sent so ``traceparent`` carries the attempt's span id
upstream. A failover therefore reads, without logs, as: attempt 1 on provider
A, ``switchboard.failure_kind=server_error``, ``http.response.status_code=503``;
attempt 2 on provider B, ok, with tokens and cost.
"""

import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.http_attributes import HTTP_RESPONSE_STATUS_CODE
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT
from opentelemetry.trace import Span, SpanKind, StatusCode
from yarl import URL

from switchboard.proxy.adapters.base import Usage
from switchboard.proxy.routing.types import Attempt, Outcome, Plan
from switchboard.proxy.telemetry.genai import GenAiMetrics
from switchboard.proxy.telemetry.setup import Telemetry

PROFILE = "switchboard.profile"
STRATEGY = "switchboard.strategy"
PROVIDER = "switchboard.provider"
ATTEMPT = "switchboard.attempt"
ATTEMPTS = "switchboard.attempts"
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


def plan_attributes(plan: Plan, operation: str, model: str) -> dict[str, Any]:
    """What the request span knows once routed: operation, requested model, profile, strategy."""
    return {
        gen_ai.GEN_AI_OPERATION_NAME: operation,
        gen_ai.GEN_AI_REQUEST_MODEL: model,
        PROFILE: plan.profile.key,
        STRATEGY: plan.strategy,
    }


def attempt_attributes(plan: Plan, attempt: Attempt, operation: str, number: int) -> dict[str, Any]:
    """The attempt span's (and its metrics') identity: which provider, which model, which try."""
    url = URL(attempt.provider.effective_base_url)
    attributes: dict[str, Any] = {
        gen_ai.GEN_AI_OPERATION_NAME: operation,
        gen_ai.GEN_AI_PROVIDER_NAME: provider_name(attempt.provider.type),
        gen_ai.GEN_AI_REQUEST_MODEL: attempt.model.upstream,
        PROFILE: plan.profile.key,
        STRATEGY: plan.strategy,
        PROVIDER: attempt.provider.key,
        ATTEMPT: number,
    }
    if url.host:
        attributes[SERVER_ADDRESS] = url.host
        attributes[SERVER_PORT] = url.port or (443 if url.scheme == "https" else 80)
    return attributes


def served_attributes(attempt: Attempt, usage: Usage, cost_usd: float) -> dict[str, Any]:
    """The request span's view of the attempt that served it."""
    return {
        gen_ai.GEN_AI_PROVIDER_NAME: provider_name(attempt.provider.type),
        gen_ai.GEN_AI_RESPONSE_MODEL: attempt.model.name,
        PROVIDER: attempt.provider.key,
        COST_USD: cost_usd,
        **usage_attributes(usage),
    }


def usage_attributes(usage: Usage) -> dict[str, int]:
    return {
        gen_ai.GEN_AI_USAGE_INPUT_TOKENS: usage.prompt_tokens,
        gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS: usage.completion_tokens,
    }


def answer_attributes(answer: Mapping[str, Any]) -> dict[str, Any]:
    """``gen_ai.response.id`` and ``gen_ai.response.finish_reasons`` of an OpenAI-format answer."""
    attributes: dict[str, Any] = {}
    if isinstance(answer.get("id"), str):
        attributes[gen_ai.GEN_AI_RESPONSE_ID] = answer["id"]
    choices = answer.get("choices")
    reasons = (
        [c["finish_reason"] for c in choices if isinstance(c, dict) and isinstance(c.get("finish_reason"), str)]
        if isinstance(choices, list)
        else []
    )
    if reasons:
        attributes[gen_ai.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
    return attributes


def _metric_attributes(attributes: Mapping[str, Any]) -> dict[str, str]:
    """The low-cardinality subset the GenAI metrics carry (never the attempt number or ids)."""
    keep = (
        gen_ai.GEN_AI_OPERATION_NAME,
        gen_ai.GEN_AI_PROVIDER_NAME,
        gen_ai.GEN_AI_REQUEST_MODEL,
        SERVER_ADDRESS,
        PROFILE,
        PROVIDER,
    )
    return {k: str(attributes[k]) for k in keep if k in attributes}


@dataclass(slots=True)
class AttemptTrace:
    """One attempt's span; its owner reports the attempt's single outcome through ``ended``."""

    span: Span
    genai: GenAiMetrics
    attributes: dict[str, Any]
    response_model: str
    started: float = field(default_factory=time.monotonic)
    finish_reasons: list[str] = field(default_factory=list)
    done: bool = False

    def saw_events(self, events: Sequence[bytes]) -> None:
        """Stream events relayed to the client: keep their finish reasons (only when the span records)."""
        if self.span.is_recording():
            self.finish_reasons.extend(finish_reasons_in(events))

    def ended(
        self,
        outcome: Outcome,
        *,
        usage: Usage | None = None,
        cost_usd: float | None = None,
        first_token_at: float | None = None,
        answer: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """The attempt's one outcome: span attributes and status, and the GenAI metrics. Later calls are ignored."""
        if self.done:
            return
        self.done = True
        metric_attributes = _metric_attributes(self.attributes)
        if outcome.kind == "success":
            metric_attributes[gen_ai.GEN_AI_RESPONSE_MODEL] = self.response_model
        else:
            metric_attributes[ERROR_TYPE] = error_type(outcome)
        self._annotate(outcome, usage, cost_usd, answer, error)
        duration = time.monotonic() - self.started
        self.genai.attempt_done(metric_attributes, duration, usage if outcome.kind == "success" else None)
        if outcome.kind == "success" and first_token_at is not None and usage is not None:
            first = first_token_at - self.started
            self.genai.stream_done(metric_attributes, first, duration, usage.completion_tokens)

    def _annotate(
        self,
        outcome: Outcome,
        usage: Usage | None,
        cost_usd: float | None,
        answer: Mapping[str, Any] | None,
        error: str | None,
    ) -> None:
        span = self.span
        if not span.is_recording():
            return
        span.set_attributes(outcome_attributes(outcome))
        if outcome.kind == "success":
            span.set_attribute(gen_ai.GEN_AI_RESPONSE_MODEL, self.response_model)
        else:
            span.set_status(StatusCode.ERROR, error or outcome.kind)
        if usage is not None:
            span.set_attributes(usage_attributes(usage))
        if cost_usd is not None:
            span.set_attribute(COST_USD, cost_usd)
        if answer is not None:
            span.set_attributes(answer_attributes(answer))
        if self.finish_reasons:
            span.set_attribute(gen_ai.GEN_AI_RESPONSE_FINISH_REASONS, self.finish_reasons)


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


_FINISH_REASON = re.compile(rb'"finish_reason":\s*"([A-Za-z_]{1,40})"')


def finish_reasons_in(events: Sequence[bytes]) -> list[str]:
    """The finish reasons named in OpenAI-format chunk events (a scan, not a parse: the relay stays cheap)."""
    return [m.decode() for event in events for m in _FINISH_REASON.findall(event)]


@contextmanager
def attempt_span(
    telemetry: Telemetry, plan: Plan, attempt: Attempt, *, operation: str, number: int
) -> Iterator[AttemptTrace]:
    """The attempt's CLIENT span, current inside the block (so the upstream call carries its ``traceparent``).

    The block's owner calls ``ended`` once; a block left without it (a bug)
    still ends the span, marked ``error.type=abandoned``.
    """
    attributes = attempt_attributes(plan, attempt, operation, number)
    name = f"{operation} {attributes[gen_ai.GEN_AI_REQUEST_MODEL]}"
    with telemetry.tracer.start_as_current_span(
        name, kind=SpanKind.CLIENT, attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as span:
        traced = AttemptTrace(span, telemetry.genai, attributes, attempt.model.name)
        try:
            yield traced
        finally:
            if not traced.done:
                traced.done = True
                span.set_status(StatusCode.ERROR, "attempt ended without an outcome")
                span.set_attribute(ERROR_TYPE, "abandoned")
