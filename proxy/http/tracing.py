"""The request's identity: its request id (logs, ``X-Request-Id``) and its SERVER span.

Outermost middleware: everything a request logs, the access line included,
carries its ``request_id`` and the span's trace and span ids. The span
continues the client's W3C ``traceparent``/``tracestate``; with tracing off
the tracer is a no-op whose "span" is the client's context, so a
``traceparent`` still passes through upstream unchanged.
Probes and ``/metrics`` get a request id but no span.
"""

from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from opentelemetry import context, trace
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.http_attributes import (
    HTTP_REQUEST_METHOD,
    HTTP_RESPONSE_STATUS_CODE,
    HTTP_ROUTE,
)
from opentelemetry.semconv.attributes.url_attributes import URL_PATH
from opentelemetry.trace import Span, SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from switchboard.logformat import request_id_for, request_scope
from switchboard.proxy.http.app_keys import REQUEST_ID
from switchboard.proxy.telemetry.attributes import REQUEST_ID as REQUEST_ID_ATTRIBUTE
from switchboard.proxy.telemetry.setup import Telemetry

REQUEST_SPAN = web.RequestKey("switchboard_request_span", Span)
REQUEST_ID_HEADER = "X-Request-Id"
_TRACE_CONTEXT = TraceContextTextMapPropagator()
_TRACEPARENT = "traceparent"


def request_span(request: web.Request) -> Span:
    """The request's SERVER span (a non-recording one outside ``/v1/`` or with tracing off)."""
    return request.get(REQUEST_SPAN) or trace.INVALID_SPAN


def annotate(request: web.Request, attributes: Callable[[], Mapping[str, Any]]) -> None:
    """The request span gets ``attributes()``, built only when it records (with tracing off, never)."""
    span = request_span(request)
    if span.is_recording():
        span.set_attributes(attributes())


def request_tracing(telemetry: Telemetry) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER))
        request[REQUEST_ID] = request_id
        with request_scope(request_id):
            if not request.path.startswith("/v1/"):
                return await handler(request)
            if not telemetry.tracing:
                return await _in_client_context(request, handler)
            resource = request.match_info.route.resource
            route = resource.canonical if resource else None
            attributes: dict[str, Any] = {
                HTTP_REQUEST_METHOD: request.method,
                URL_PATH: request.path,
                REQUEST_ID_ATTRIBUTE: request_id,
            }
            if route:
                attributes[HTTP_ROUTE] = route
            with telemetry.tracer.start_as_current_span(
                f"{request.method} {route or request.path}",
                context=_TRACE_CONTEXT.extract(request.headers),
                kind=SpanKind.SERVER,
                attributes=attributes,
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                request[REQUEST_SPAN] = span
                try:
                    response = await handler(request)
                except BaseException as error:  # cancelled (client went away), or an aiohttp redirect
                    span.set_attribute(ERROR_TYPE, type(error).__qualname__)
                    raise
                span.set_attribute(HTTP_RESPONSE_STATUS_CODE, response.status)
                if response.status >= 500:  # server spans: only 5xx are the server's errors
                    span.set_status(StatusCode.ERROR)
                    span.set_attribute(ERROR_TYPE, str(response.status))
                return response

    return middleware


async def _in_client_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Tracing off: no span, the client's trace context current instead (what a no-op tracer's span
    would carry, for a fraction of its cost), so its ``traceparent`` still passes upstream unchanged."""
    request[REQUEST_SPAN] = trace.INVALID_SPAN  # present: a lookup that misses raises and catches a KeyError
    if _TRACEPARENT not in request.headers:
        return await handler(request)
    token = context.attach(_TRACE_CONTEXT.extract(request.headers))
    try:
        return await handler(request)
    finally:
        context.detach(token)


async def send_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: every answer, streams included, names its request id."""
    request_id = request.get(REQUEST_ID)
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id
