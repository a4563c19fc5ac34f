"""Typed keys for what the app and each request carry."""

from dataclasses import dataclass, field

from aiohttp import web

from switchboard.proxy.routing.pricing import PricingTable
from switchboard.proxy.runtime import Runtime
from switchboard.proxy.telemetry.setup import Telemetry


@dataclass(slots=True)
class RouteLabels:
    """Metric labels a handler learns while routing; the middleware records them."""

    endpoint: str
    profile: str = "none"
    provider: str = "none"
    cost_usd: float | None = None  # set once the usage is known (for streams, after the last chunk)
    extra: dict[str, str] = field(default_factory=dict)


RUNTIME = web.AppKey("switchboard_runtime", Runtime)
LABELS = web.RequestKey("switchboard_labels", RouteLabels)
PRICING = web.AppKey("switchboard_pricing", PricingTable)
TELEMETRY = web.AppKey("switchboard_telemetry", Telemetry)
