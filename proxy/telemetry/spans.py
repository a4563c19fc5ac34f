"""A request's trace: its SERVER span (``http/tracing.py``) and one CLIENT child span per upstream attempt.

``OwnedAttempt`` opens the attempt span around the attempt's whole life (a
stream's until its end) and reports its one outcome through
``AttemptTrace.ended``. The span is current while the upstream request is
sent, so ``traceparent`` names it upstream. A failover therefore reads,
without logs, as: attempt 1 on provider A, ``error.type=503``,
``switchboard.failure_kind=server_error``; attempt 2 on provider B, tokens
and cost; and the request span carries what served it.
"""

import time
from collections.abc import Mapping, Sequence
from contextvars import Token
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from opentelemetry import context, trace
from opentelemetry.context import Context
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.trace import Span, SpanKind, StatusCode

from switchboard.proxy.adapters.base import Usage
from switchboard.proxy.routing.types import Attempt, Outcome
from switchboard.proxy.telemetry.answers import CHAT, AnswerReader, StreamReader, reader_for
from switchboard.proxy.telemetry.attributes import (
    COST_USD,
    attempt_attributes,
    error_type,
    metric_attributes,
    operation_name,
    outcome_attributes,
    served_attributes,
    usage_attributes,
)
from switchboard.proxy.telemetry.genai import GenAiMetrics
from switchboard.proxy.telemetry.setup import Telemetry


@dataclass(slots=True)
class AttemptTrace:
    """One attempt's span, current while the attempt runs (``with``); its owner reports the attempt's single
    outcome through ``ended``. A block left without it (a bug) still ends the span, marked
    ``error.type=abandoned``. Untraced (no span), entering and leaving do nothing.
    """

    span: Span
    request_span: Span
    genai: GenAiMetrics | None  # None: GenAI metrics are off
    attributes: dict[str, Any]
    attempt: Attempt
    reader: AnswerReader = CHAT  # how the client's API words answers and events
    started: float = field(default_factory=time.monotonic)
    answer: Mapping[str, Any] | None = None
    streamed: StreamReader | None = None
    done: bool = False
    attached: Token[Context] | None = None
    """While inside the block: what leaving it detaches (the context in which the span is current)."""

    def __enter__(self) -> "AttemptTrace":
        if self.span is not trace.INVALID_SPAN:
            self.attached = context.attach(trace.set_span_in_context(self.span))
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        attached = self.attached
        if attached is None:
            return
        self.attached = None
        try:
            if not self.done:
                self.done = True
                self.span.set_status(StatusCode.ERROR, "attempt ended without an outcome")
                self.span.set_attribute(ERROR_TYPE, "abandoned")
        finally:
            self.span.end()
            context.detach(attached)

    def answered(self, answer: object) -> None:
        """The attempt's complete (non-streamed) answer, as the client gets it."""
        if isinstance(answer, Mapping):
            self.answer = answer

    def saw_events(self, events: Sequence[bytes]) -> None:
        """Stream events relayed to the client: the response id, finish reasons (and text, when captured)."""
        if not self.span.is_recording():
            return
        if self.streamed is None:
            self.streamed = self.reader.stream(self.attempt.profile.tracing.capture_content)
        self.streamed.feed(events)

    def ended(
        self,
        outcome: Outcome,
        *,
        usage: Usage | None = None,
        cost_usd: float | None = None,
        first_token_at: float | None = None,
        error: str | None = None,
    ) -> None:
        """The attempt's one outcome: span attributes and status, and the GenAI metrics. Later calls are ignored."""
        if self.done:
            return
        self.done = True
        if self.span.is_recording():
            self._annotate(outcome, usage, cost_usd, error)
        if self.genai is not None:
            self._measure(outcome, usage, first_token_at)

    def _measure(self, outcome: Outcome, usage: Usage | None, first_token_at: float | None) -> None:
        assert self.genai is not None
        success = outcome.kind == "success"
        labels = metric_attributes(self.attributes)
        if success:
            labels[gen_ai.GEN_AI_RESPONSE_MODEL] = self.attempt.model.name
        else:
            labels[ERROR_TYPE] = error_type(outcome)
        duration = time.monotonic() - self.started
        self.genai.attempt_done(labels, duration, usage if success else None)
        if success and first_token_at is not None and usage is not None:
            self.genai.stream_done(labels, first_token_at - self.started, duration, usage.completion_tokens)

    def _annotate(self, outcome: Outcome, usage: Usage | None, cost_usd: float | None, error: str | None) -> None:
        """One ``set_attributes`` per span: the SDK validates and locks per call."""
        if self.answer is not None:
            answered = self.reader.identity(self.answer)
        else:
            answered = self.streamed.attributes() if self.streamed is not None else {}
        found = {**outcome_attributes(outcome), **answered}
        if usage is not None:
            found.update(usage_attributes(usage))
        if cost_usd is not None:
            found[COST_USD] = cost_usd
        if outcome.kind != "success":
            self.span.set_attributes(found)
            self.span.set_status(StatusCode.ERROR, error or outcome.kind)
            return
        found[gen_ai.GEN_AI_RESPONSE_MODEL] = self.attempt.model.name
        self.span.set_attributes(found)
        # The request span tells what served it (one attempt per request succeeds).
        if self.request_span.is_recording():
            served = {**served_attributes(self.attempt, usage, cost_usd), **answered}
            if self.attempt.profile.tracing.capture_content:
                served.update(self._output())
            self.request_span.set_attributes(served)

    def _output(self) -> dict[str, str]:
        if self.streamed is not None:
            return self.streamed.output()
        return self.reader.output(self.answer) if self.answer is not None else {}


def attempt_trace(
    telemetry: Telemetry, request_span: Span, attempt: Attempt, *, endpoint: str, number: int
) -> AttemptTrace | None:
    """The attempt's CLIENT span, a child of ``request_span``, current inside ``with`` (so the upstream call
    carries its ``traceparent``).

    ``endpoint`` (``chat/completions``, ``responses``, ``messages``...) says
    the operation and how the client's API words the answer.

    With tracing off there is no attempt span (the client's context stays
    current, so its ``traceparent`` passes through), and with metrics off
    nothing is measured: with both off, None (an attempt then costs no trace object at all).
    A request the sampler dropped gets no attempt span either: every built-in
    sampler would drop it too (same trace id, unsampled parent), and a
    sampled-out request then costs no span work beyond its own.
    A function of the request's parts, not an object per request: a request that is not traced builds nothing.
    """
    genai = telemetry.genai if telemetry.metering else None
    if not telemetry.tracing or not request_span.is_recording():
        if genai is None:
            return None
        attributes = attempt_attributes(attempt, operation_name(endpoint), number)
        return AttemptTrace(trace.INVALID_SPAN, request_span, genai, attributes, attempt)
    operation = operation_name(endpoint)
    attributes = attempt_attributes(attempt, operation, number)
    span = telemetry.tracer.start_span(
        f"{operation} {attempt.model.upstream}",
        kind=SpanKind.CLIENT,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    )
    return AttemptTrace(span, request_span, genai, attributes, attempt, reader_for(endpoint))
