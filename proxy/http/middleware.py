"""Errors in OpenAI format everywhere, and per-request metrics.

Anything a handler raises (our ApiError, aiohttp's HTTP exceptions such as
404/405/413, or an unexpected bug) leaves as OpenAI's JSON error body: clients
never see a traceback or an HTML page. A client that went away before its
answer was complete is recorded as ``499`` (nginx's "client closed request"):
no traceback, no ERROR line.
"""

import asyncio
import logging
import time

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from switchboard.proxy.auth import request_client
from switchboard.proxy.cost import format_cost
from switchboard.proxy.errors import ApiError
from switchboard.proxy.http.keys import LABELS, RUNTIME, RouteLabels
from switchboard.proxy.upstream.outcomes import ClientGone

log = logging.getLogger("switchboard.proxy.http")
access_log = logging.getLogger("switchboard.proxy.access")

_HTTP_CODES = {404: "unknown_url", 405: "method_not_allowed", 413: "request_too_large"}
CLIENT_CLOSED_REQUEST = 499


def error_response(error: ApiError) -> web.Response:
    return web.Response(
        status=error.status,
        body=orjson.dumps(error.body()),
        content_type="application/json",
        headers=error.headers(),
    )


def _from_http_exception(request: web.Request, exc: web.HTTPException) -> ApiError:
    if exc.status == 404:
        message = f"unknown URL: {request.method} {request.path}"
    elif exc.status == 405:
        message = f"method {request.method} not allowed for {request.path}"
    elif exc.status == 413:
        message = "request body too large"
    else:
        message = exc.reason
    return ApiError(exc.status, message, code=_HTTP_CODES.get(exc.status))


@web.middleware
async def openai_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as e:
        return error_response(e)
    except ClientGone:
        return web.Response(status=CLIENT_CLOSED_REQUEST)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        return error_response(_from_http_exception(request, e))
    except Exception:
        log.exception("unhandled error serving %s %s", request.method, request.path)
        return error_response(ApiError(500, "internal error in the proxy", code="internal_error"))


@web.middleware
async def request_metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count and time every API request with the labels the handler found."""
    if not request.path.startswith("/v1/"):
        return await handler(request)
    resource = request.match_info.route.resource
    began = time.monotonic()
    endpoint = resource.canonical.removeprefix("/v1/") if resource else "unmatched"
    labels = RouteLabels(endpoint=endpoint, started_at=began)
    request[LABELS] = labels
    try:
        response = await handler(request)
    except asyncio.CancelledError:  # the client disconnected (or the server is stopping) mid-request
        _record(request, CLIENT_CLOSED_REQUEST, labels)
        raise
    _record(request, CLIENT_CLOSED_REQUEST if labels.client_gone else response.status, labels)
    return response


def _record(request: web.Request, status: int, labels: RouteLabels) -> None:
    metrics = request.app[RUNTIME].metrics
    metrics.requests.labels(labels.endpoint, labels.profile, labels.provider, str(status)).inc()
    elapsed = time.monotonic() - labels.started_at
    metrics.latency.labels(labels.endpoint, labels.profile, labels.provider).observe(elapsed)
    _log_access(request, status, labels, elapsed)


def _log_access(request: web.Request, status: int, labels: RouteLabels, elapsed_s: float) -> None:
    """One line per API request; a stream's line is written when it ended, so it has the cost too.

    Names the client by its key entry's name (with client auth on), never by its key.
    """
    client = request_client(request)
    cost = "-" if labels.cost_usd is None else format_cost(labels.cost_usd)
    access_log.info(
        "%s %s %d profile=%s provider=%s client=%s duration_s=%.3f cost_usd=%s%s",
        request.method,
        request.path,
        status,
        labels.profile,
        labels.provider,
        client.name if client else "-",
        elapsed_s,
        cost,
        _endpoint_fields(labels),
    )


def _endpoint_fields(labels: RouteLabels) -> str:
    """Service-backed providers only: which endpoint served, and which providers were spilled over and why."""
    if labels.spill == "-" and labels.upstream_endpoint == "-":
        return ""
    return f" upstream_endpoint={labels.upstream_endpoint} spill={labels.spill}"
