"""Every typed key the app and each request carry, in one place."""

from dataclasses import dataclass, field

from aiohttp import web

from switchboard.proxy.config_source import ConfigSource
from switchboard.proxy.runtime import Runtime
from switchboard.proxy.telemetry.setup import Telemetry


@dataclass(slots=True)
class RouteLabels:
    """What a handler learns while serving; the middleware records it in the metrics and access log."""

    endpoint: str
    started_at: float = 0.0  # time.monotonic() when the request arrived
    profile: str = "none"
    provider: str = "none"
    cost_usd: float | None = None  # set once the usage is known (for streams, after the last chunk)
    client_gone: bool = False  # the client went away before the answer was complete: logged as 499
    spill: str = "-"  # Service-backed providers passed over: "provider:reason,..."
    upstream_endpoint: str = "-"  # Service-backed provider: the endpoint (ip:port) of the last attempt
    api: str = field(init=False)
    """The client API of the endpoint (``chat``, ``responses``, ``messages``, ``embeddings``, else ``other``);
    a label of several metrics per request, so worked out once."""

    def __post_init__(self) -> None:
        self.api = _APIS.get(self.endpoint.partition("/")[0], "other")


_APIS = {"chat": "chat", "responses": "responses", "messages": "messages", "embeddings": "embeddings"}


RUNTIME = web.AppKey("switchboard_runtime", Runtime)
SOURCE = web.AppKey("switchboard_source", ConfigSource)
STARTED_AT = web.AppKey("switchboard_started_at", float)
LABELS = web.RequestKey("switchboard_labels", RouteLabels)
REQUEST_ID = web.RequestKey("switchboard_request_id", str)
TELEMETRY = web.AppKey("switchboard_telemetry", Telemetry)
