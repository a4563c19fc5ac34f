"""Every typed key the app carries, and the one object each request carries (``request[STATE]``)."""

from collections.abc import MutableMapping

from aiohttp import hdrs, web
from multidict import istr
from opentelemetry import trace
from opentelemetry.trace import Span

from switchboard.proxy.auth import Client
from switchboard.proxy.config_source import ConfigSource
from switchboard.proxy.fleet.admission import Reservation
from switchboard.proxy.http.tracing import REQUEST_ID_HEADER
from switchboard.proxy.runtime import Runtime


class RequestState:
    """What the proxy knows and learns about one request, in one object stored once on it (``request[STATE]``).

    The lifecycle owner (``lifecycle.py``) makes it when the request arrives; auth, the handler, the fleet
    limiter and the attempts fill it in; at the request's end the lifecycle records it in the metrics and the
    access log. One slots object rather than a ``request[KEY]`` per fact: each of those sets was an
    ``isinstance`` and each ``request.get`` a ``Mapping.get`` in Python, several per request.

    It also carries the app's ``runtime`` (router, metrics, telemetry, fleet limiter, snapshots): what serves
    the request and what its attempts report to, found here rather than through ``request.app`` (two aiohttp
    properties) and an ``app[KEY]`` per part, nor bundled in a reporting object built per request.
    """

    __slots__ = (
        "api",
        "client",
        "client_gone",
        "cost_usd",
        "endpoint",
        "profile",
        "provider",
        "rate_headers",
        "request_id",
        "reservation",
        "runtime",
        "span",
        "spill",
        "started_at",
        "upstream_endpoint",
    )

    def __init__(self, runtime: Runtime, request_id: str, endpoint: str, api: str, started_at: float) -> None:
        self.runtime = runtime  # the app's, the same for all its requests
        self.request_id = request_id  # in every log line and in ``X-Request-Id``
        self.endpoint = endpoint  # the route without ``/v1/`` (``chat/completions``), or ``unmatched``
        self.api = api  # ``api_of(endpoint)``, worked out once per route
        self.started_at = started_at  # time.monotonic() when the request arrived
        self.client: Client | None = None  # the authenticated client key, with client auth on
        self.span: Span = trace.INVALID_SPAN  # the request's SERVER span (tracing off: the client's context's)
        self.profile = "none"
        self.provider = "none"
        self.cost_usd: float | None = None  # set once the usage is known (for streams, after the last chunk)
        self.client_gone = False  # the client went away before the answer was complete: logged as 499
        self.spill = "-"  # Service-backed providers passed over: "provider:reason,..."
        self.upstream_endpoint = "-"  # Service-backed provider: the endpoint (ip:port) of the last attempt
        self.reservation: Reservation | None = None  # the request's share of the fleet-wide limits, if any
        self.rate_headers: dict[str, str] | None = None  # ``x-ratelimit-*`` for the client, once admitted

    def stamp(self, headers: MutableMapping[str, str]) -> None:
        """What every answer carries, set before it is sent: the server without versions (no fingerprint),
        the request id, the client-facing limits' state (429s included)."""
        headers[hdrs.SERVER] = "switchboard"
        headers[REQUEST_ID_HEADER] = self.request_id
        if self.rate_headers:
            headers.update(self.rate_headers)


# The headers naming what served an answer (or what was tried), set here, by the handlers and by the
# attempt loop. ``istr`` names (like aiohttp's ``hdrs``): a headers multidict folds each name's case once.
PROVIDER_HEADER = istr("x-switchboard-provider")
MODEL_HEADER = istr("x-switchboard-model")
PROFILE_HEADER = istr("x-switchboard-profile")
STRATEGY_HEADER = istr("x-switchboard-strategy")
ATTEMPTS_HEADER = istr("x-switchboard-attempts")
PROVIDERS_TRIED_HEADER = istr("x-switchboard-providers-tried")
COST_HEADER = istr("x-switchboard-cost-usd")


def api_of(endpoint: str) -> str:
    """The client API of ``endpoint`` (``chat``, ``responses``, ``messages``, ``embeddings``, else ``other``):
    a label of several metrics per request, so the lifecycle works it out once per route."""
    first = endpoint.partition("/")[0]
    return first if first in ("chat", "responses", "messages", "embeddings") else "other"


RUNTIME = web.AppKey("switchboard_runtime", Runtime)
SOURCE = web.AppKey("switchboard_source", ConfigSource)
STARTED_AT = web.AppKey("switchboard_started_at", float)
STATE = web.RequestKey("switchboard_request", RequestState)
