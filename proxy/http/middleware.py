"""Errors in OpenAI format everywhere, and per-request metrics.

Anything a handler raises (our ApiError, aiohttp's HTTP exceptions such as
404/405/413, or an unexpected bug) leaves as OpenAI's JSON error body (Anthropic's
on the Messages API): clients never see a traceback or an HTML page. A client that went away before its
answer was complete is recorded as ``499`` (nginx's "client closed request"):
no traceback, no ERROR line.
"""

import asyncio
import logging
import time

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from switchboard.logformat import log_ids
from switchboard.proxy.auth import request_client
from switchboard.proxy.errors import ApiError, anthropic_error_body
from switchboard.proxy.http.access_log import AccessLine
from switchboard.proxy.http.app_keys import ACCESS_LOG, LABELS, RUNTIME, RouteLabels
from switchboard.proxy.upstream.outcomes import ClientGone

log = logging.getLogger("switchboard.proxy.http")

_HTTP_CODES = {404: "unknown_url", 405: "method_not_allowed", 413: "request_too_large"}
CLIENT_CLOSED_REQUEST = 499


def error_response(error: ApiError, *, anthropic: bool = False) -> web.Response:
    body = anthropic_error_body(error.status, error.message) if anthropic else error.body()
    return web.Response(
        status=error.status, body=orjson.dumps(body), content_type="application/json", headers=error.headers()
    )


def anthropic_api(request: web.Request) -> bool:
    """Requests of the Anthropic Messages API get Anthropic's error bodies."""
    return request.path == "/v1/messages" or request.path.startswith("/v1/messages/")


def _from_http_exception(request: web.Request, exc: web.HTTPException) -> ApiError:
    headers = None
    if exc.status == 404:
        message = f"unknown URL: {request.method} {request.path}"
    elif exc.status == 405:
        allowed = sorted(exc.allowed_methods) if isinstance(exc, web.HTTPMethodNotAllowed) else []
        message = f"method {request.method} not allowed for {request.path}"
        headers = {"Allow": ", ".join(allowed)}
    elif exc.status == 413:
        message = "request body too large"
    else:
        message = exc.reason
    return ApiError(exc.status, message, code=_HTTP_CODES.get(exc.status), headers=headers)


@web.middleware
async def openai_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error in the client API's format: OpenAI's, or Anthropic's on the Messages API."""
    anthropic = anthropic_api(request)
    try:
        return await handler(request)
    except ApiError as e:
        return error_response(e, anthropic=anthropic)
    except ClientGone:
        return web.Response(status=CLIENT_CLOSED_REQUEST)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        return error_response(_from_http_exception(request, e), anthropic=anthropic)
    except Exception:
        log.exception("unhandled error serving %s %s", request.method, request.path)
        return error_response(ApiError(500, "internal error in the proxy", code="internal_error"), anthropic=anthropic)


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


async def response_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: name the server without versions (no fingerprint)."""
    response.headers["Server"] = "switchboard"


def _record(request: web.Request, status: int, labels: RouteLabels) -> None:
    metrics = request.app[RUNTIME].metrics
    metrics.requests.labels(labels.api, labels.endpoint, labels.profile, labels.provider, str(status)).inc()
    elapsed = time.monotonic() - labels.started_at
    metrics.latency.labels(labels.api, labels.endpoint, labels.profile, labels.provider).observe(elapsed)
    client = request_client(request)
    if client is not None:  # one series per issued key (bounded by the keys file and the per-namespace quota)
        namespace = client.namespace or "-"
        metrics.client_requests.labels(client.name, namespace, f"{status // 100}xx").inc()
        if labels.cost_usd:
            metrics.client_cost.labels(client.name, namespace).inc(labels.cost_usd)
    _log_access(request, status, labels, elapsed)


def _log_access(request: web.Request, status: int, labels: RouteLabels, elapsed_s: float) -> None:
    """One line per API request; a stream's line is written when it ended, so it has the cost too."""
    access_log = request.app[ACCESS_LOG]
    if not access_log.enabled():
        return
    client = request_client(request)
    line = AccessLine(
        method=request.method,
        path=request.path,
        status=status,
        api=labels.api,
        profile=labels.profile,
        provider=labels.provider,
        client=client.name if client else "-",
        client_namespace=(client.namespace or "-") if client else "-",
        duration_s=elapsed_s,
        cost_usd=labels.cost_usd,
        created=time.time(),
        ids=log_ids(),
        endpoint_fields=_endpoint_fields(labels),
    )
    access_log.write(line)


def _endpoint_fields(labels: RouteLabels) -> str:
    """Service-backed providers only: which endpoint served, and which providers were spilled over and why."""
    if labels.spill == "-" and labels.upstream_endpoint == "-":
        return ""
    return f" upstream_endpoint={labels.upstream_endpoint} spill={labels.spill}"
