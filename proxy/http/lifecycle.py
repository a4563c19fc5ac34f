"""The request's lifecycle owner: it wraps every handler where the route is registered, and pairs everything
a request starts.

Each request gets its ``RequestState`` with its id (logs, ``X-Request-Id``); each API request
(``/v1/...``) also its SERVER span (``tracing.py``), and at its end, in one place, its metrics,
its access line and its span's end. With client auth on, it authenticates the request first.

Anything a handler raises (our ApiError, aiohttp's HTTP exceptions such as
404/405/413, or an unexpected bug) leaves as OpenAI's JSON error body (Anthropic's
on the Messages API): clients never see a traceback or an HTML page. A client that went away before its
answer was complete is recorded as ``499`` (nginx's "client closed request"):
no traceback, no ERROR line. Every answer carries ``Server`` (no versions), ``X-Request-Id`` and the
client's ``x-ratelimit-*`` (``RequestState.stamp``): here on the answer a handler returns unsent, and in
the two places that send their answers themselves (``common.json_in_chunks``, ``stream_relay.ClientStream``).

No aiohttp middleware and no ``on_response_prepare`` signal: with any middleware at all aiohttp adds its
own (``_fix_request_current_app``) and a ``partial`` per link per request, and the signal is a coroutine
per answer. Unknown URLs and methods reach two catch-all routes (``/v1/{tail}``, ``/{tail}``),
wrapped like the rest, whose handler raises aiohttp's own 404 or 405.
"""

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextvars import Token

import orjson
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from opentelemetry.context import Context
from opentelemetry.trace import INVALID_SPAN

from switchboard.logformat import enter_request, leave_request, request_id_for
from switchboard.proxy.auth import KeyStore, authenticated, needs_key
from switchboard.proxy.errors import ApiError, anthropic_error_body
from switchboard.proxy.http.access_log import AccessLog
from switchboard.proxy.http.app_keys import STATE, RequestState, api_of
from switchboard.proxy.http.tracing import REQUEST_ID_HEADER, TRACEPARENT, close_span, open_span
from switchboard.proxy.metrics import FastCounter, FastHistogram
from switchboard.proxy.runtime import Runtime
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


class RequestLifecycle:
    """Wraps each handler at route registration (``add_routes``); owns the access log's writer thread.

    With ``keys`` (client auth on) it authenticates every request that needs a key, before its
    handler: a 401 is an OpenAI error, counted and logged like any other answer.
    """

    def __init__(self, *, runtime: Runtime, access_log: AccessLog, keys: Callable[[], KeyStore] | None = None) -> None:
        self._runtime = runtime  # every request's state carries it
        self._telemetry = runtime.telemetry
        self._metrics = runtime.metrics
        self.access_log = access_log
        self._keys = keys
        self._answers: dict[tuple[str, str, str, int], tuple[FastCounter, FastHistogram]] = {}
        """Per (endpoint, profile, provider, status) that requests ended with: its metric children (``_children``).
        As bounded as the children themselves (the routes, profiles and providers of the config, and statuses)."""

    def add_routes(self, router: web.UrlDispatcher, routes: Iterable[tuple[str, str, Handler]]) -> None:
        """Each ``(method, path, handler)`` inside the lifecycle (a GET also answers HEAD, like ``add_get``),
        then the catch-alls that answer unknown URLs (404) and methods (405)."""
        for method, path, handler in routes:
            resource = router.add_resource(path)
            route = resource.canonical
            wrapped = self.api(route, handler) if route.startswith("/v1/") else self.plain(handler)
            if method == hdrs.METH_GET:
                resource.add_route(hdrs.METH_HEAD, wrapped)
            resource.add_route(method, wrapped)
        router.add_route(hdrs.METH_ANY, "/v1/{tail:.*}", self.api(None, unmatched))
        router.add_route(hdrs.METH_ANY, "/{tail:.*}", self.plain(unmatched))

    def api(self, route: str | None, handler: Handler) -> Handler:
        """``handler`` of the API route ``route`` (``/v1/...``; None: no route matched) in the request's lifecycle."""
        endpoint = route.removeprefix("/v1/") if route else "unmatched"
        return self._wrapped(handler, route=route, endpoint=endpoint, recorded=True)

    def plain(self, handler: Handler) -> Handler:
        """``handler`` of a route outside the API (probes, ``/metrics``): an id and its headers, nothing recorded."""
        return self._wrapped(handler, route=None, endpoint="unmatched", recorded=False)

    def _wrapped(self, handler: Handler, *, route: str | None, endpoint: str, recorded: bool) -> Handler:
        """The one lifecycle of every route; not ``recorded``: outside the API (no span, no metrics, no access
        line)."""
        runtime, telemetry, keys, end = self._runtime, self._telemetry, self._keys, self._end
        api = api_of(endpoint)
        spans = recorded and telemetry.tracing  # off: only a client's ``traceparent`` has a context to attach

        async def lifecycle(request: web.Request) -> web.StreamResponse:
            headers = request.headers  # a property: read once
            request_id = request_id_for(headers.get(REQUEST_ID_HEADER))
            scope = enter_request(request_id)  # every log line of the request carries its id
            try:
                state = RequestState(runtime, request_id, endpoint, api, time.monotonic())
                request[STATE] = state
                attached: Token[Context] | None = None
                if spans or (recorded and TRACEPARENT in headers):
                    state.span, attached = open_span(telemetry, request, request_id, route)
                try:
                    try:
                        if keys is not None and needs_key(request):  # client auth on: the client, or a 401
                            state.client = authenticated(keys, request)
                        response = await handler(request)
                    except Exception as error:
                        response = _error_answer(request, state, error)
                    if not response.prepared:
                        state.stamp(response.headers)
                except BaseException as error:  # cancelled (the client went away, or the server stops), or a redirect
                    if recorded:
                        end(request, state, attached, error)
                    raise
                if recorded:
                    end(request, state, attached, response)
                return response
            finally:
                leave_request(scope)

        return lifecycle

    async def writing_access_log(self, app: web.Application) -> AsyncIterator[None]:
        """``cleanup_ctx``: the access log's writer thread for the app's lifetime; it writes every queued line."""
        self.access_log.start()
        yield
        self.access_log.stop()

    def _end(
        self,
        request: web.Request,
        state: RequestState,
        attached: Token[Context] | None,
        outcome: web.StreamResponse | BaseException,
    ) -> None:
        """The API request's end, once: its metrics and access line, then its span's end (if it has one: with
        tracing off and no client ``traceparent`` there is nothing to end)."""
        try:
            if state.client_gone:
                status = CLIENT_CLOSED_REQUEST
            elif isinstance(outcome, BaseException):
                status = outcome.status if isinstance(outcome, web.HTTPException) else CLIENT_CLOSED_REQUEST
            else:
                status = outcome.status
            elapsed = time.monotonic() - state.started_at
            children = self._answers.get((state.endpoint, state.profile, state.provider, status))
            if children is None:
                children = self._children(state, status)
            children[0].inc()  # FastCounter/FastHistogram: no lock, no checks
            children[1].observe(elapsed)
            client = state.client
            if client is not None:  # one series per issued key (bounded by the keys file and the per-namespace quota)
                namespace = client.namespace or "-"
                self._metrics.client_requests.labels(client.name, namespace, f"{status // 100}xx").inc()
                if state.cost_usd:
                    self._metrics.client_cost.labels(client.name, namespace).inc(state.cost_usd)
            self.access_log.add(request, status, state, elapsed)  # a stream's when it ended: it has the cost too
        finally:
            if attached is not None or state.span is not INVALID_SPAN:
                close_span(state.span, attached, outcome)

    def _children(self, state: RequestState, status: int) -> tuple[FastCounter, FastHistogram]:
        """The request count and latency children of requests of ``state``'s route ending with ``status``:
        resolved on the first, then found in ``_answers`` by every later one (one dict lookup per request
        instead of two ``labels()`` calls, their argument tuples and ``str(status)``)."""
        route = (state.api, state.endpoint, state.profile, state.provider)
        children = (self._metrics.requests.labels(*route, str(status)), self._metrics.latency.labels(*route))
        self._answers[(state.endpoint, state.profile, state.provider, status)] = children
        return children


async def unmatched(request: web.Request) -> web.StreamResponse:
    """The catch-all routes' handler: aiohttp's 405 (with the methods the URL allows) when another route has the
    URL, else its 404. Only here, off the path of every matched request, are the routes walked again."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        match, methods = await resource.resolve(request)
        if match is None:  # a catch-all matches; the others did not, for their method or their URL
            allowed |= methods
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise web.HTTPNotFound()


def _error_answer(request: web.Request, state: RequestState, error: Exception) -> web.StreamResponse:
    """What the client gets for ``error``, raised by the handler; a redirect (an HTTPException below 400) goes on,
    with the headers every answer carries."""
    if isinstance(error, ApiError):
        return error_response(error, anthropic=anthropic_api(request))
    if isinstance(error, ClientGone):
        return web.Response(status=CLIENT_CLOSED_REQUEST)
    if isinstance(error, web.HTTPException):
        if error.status < 400:
            state.stamp(error.headers)
            raise error
        return error_response(_from_http_exception(request, error), anthropic=anthropic_api(request))
    log.exception("unhandled error serving %s %s", request.method, request.path, exc_info=error)
    internal = ApiError(500, "internal error in the proxy", code="internal_error")
    return error_response(internal, anthropic=anthropic_api(request))
