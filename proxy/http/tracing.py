"""A request's SERVER span, opened and closed by the request's lifecycle owner (``lifecycle.py``).

Everything a request logs, the access line included, carries its
``request_id`` and the span's trace and span ids. The span continues the
client's W3C ``traceparent``/``tracestate``; with tracing off there is no span
at all, the client's context is current instead, so a ``traceparent`` still
passes through upstream unchanged. Probes and ``/metrics`` get no span.
"""

from contextvars import Token
from typing import Any

from aiohttp import web
from multidict import istr
from opentelemetry import context, trace
from opentelemetry.context import Context
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.http_attributes import (
    HTTP_REQUEST_METHOD,
    HTTP_RESPONSE_STATUS_CODE,
    HTTP_ROUTE,
)
from opentelemetry.semconv.attributes.url_attributes import URL_PATH
from opentelemetry.trace import Span, SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from switchboard.proxy.telemetry.attributes import REQUEST_ID as REQUEST_ID_ATTRIBUTE
from switchboard.proxy.telemetry.setup import Telemetry

REQUEST_ID_HEADER = istr("X-Request-Id")  # ``istr``: read and set once per request, its case folded once
_TRACE_CONTEXT = TraceContextTextMapPropagator()
TRACEPARENT = istr("traceparent")  # looked up in every API request's headers


def open_span(
    telemetry: Telemetry, request: web.Request, request_id: str, route: str | None
) -> tuple[Span, Token[Context] | None]:
    """The request's SERVER span, current from here on; with tracing off, the client's trace context instead.

    Returns the span whose ids the request's lines carry, and what ``close_span`` detaches. With tracing off
    the lifecycle calls it only for a request with a ``traceparent``: without one there is nothing to open
    (``INVALID_SPAN``, nothing attached), and no call is made per request for that.
    """
    if not telemetry.tracing:
        # What a no-op tracer's span would carry, for a fraction of its cost: the client's ``traceparent``
        # still passes upstream unchanged.
        client = _TRACE_CONTEXT.extract(request.headers)
        return trace.get_current_span(client), context.attach(client)
    attributes: dict[str, Any] = {
        HTTP_REQUEST_METHOD: request.method,
        URL_PATH: request.path,
        REQUEST_ID_ATTRIBUTE: request_id,
    }
    if route:
        attributes[HTTP_ROUTE] = route
    span = telemetry.tracer.start_span(
        f"{request.method} {route or request.path}",
        context=_TRACE_CONTEXT.extract(request.headers),
        kind=SpanKind.SERVER,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    )
    return span, context.attach(trace.set_span_in_context(span))


def close_span(span: Span, attached: Token[Context] | None, outcome: web.StreamResponse | BaseException) -> None:
    """End what ``open_span`` began: the answer's status on the span (only 5xx are a server span's errors)."""
    if span.is_recording():
        if isinstance(outcome, BaseException):  # cancelled (the client went away), or an aiohttp redirect
            span.set_attribute(ERROR_TYPE, type(outcome).__qualname__)
        else:
            span.set_attribute(HTTP_RESPONSE_STATUS_CODE, outcome.status)
            if outcome.status >= 500:
                span.set_status(StatusCode.ERROR)
                span.set_attribute(ERROR_TYPE, str(outcome.status))
        span.end()
    if attached is not None:
        context.detach(attached)
