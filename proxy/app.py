"""The aiohttp application factory: routes (inside the request lifecycle), runtime and config source.

Serve it with ``web.AppRunner(app, handler_cancellation=True)``: a client that
disconnects then cancels its handler, and with it the upstream call at once.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Handler

from switchboard.proxy.auth import CombinedKeys, KeyStore
from switchboard.proxy.config_source import ConfigSource
from switchboard.proxy.endpoints.scraper import scrape_forever
from switchboard.proxy.fleet.admission import FleetLimiter
from switchboard.proxy.fleet.http import FLEET
from switchboard.proxy.fleet.store import FleetStore, StoreSettings
from switchboard.proxy.http import chat, embeddings, info, messages_api, responses_api, routing_api
from switchboard.proxy.http.access_log import AccessLog
from switchboard.proxy.http.app_keys import RUNTIME, SOURCE, STARTED_AT
from switchboard.proxy.http.lifecycle import RequestLifecycle
from switchboard.proxy.metrics import HealthSource, create_metrics
from switchboard.proxy.routing.pricing import PricingTable
from switchboard.proxy.routing.router import Clock
from switchboard.proxy.runtime import Runtime
from switchboard.proxy.telemetry.setup import Telemetry

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class AppOptions:
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    pricing: PricingTable = field(default_factory=PricingTable.default)
    """Prices for routing and for billing: one table, so both agree."""
    api_keys: Callable[[], KeyStore] | None = None
    """The keys file's current keys (``KeyFileSource(path).current``); setting it turns client auth on."""
    client_auth: bool = False
    """Require a client key even without a keys file (cluster mode: the teams' keys alone)."""
    state_store: StoreSettings | None = None
    """Redis/Valkey shared by the fleet (exact limits, budgets); None: each replica enforces 1/N of them."""
    telemetry: Telemetry = field(default_factory=Telemetry.off)
    """Tracer and GenAI instruments (``Telemetry.from_env()`` in the CLI); off by default."""
    routing_clock: Clock = time.monotonic
    """The router's clock (limits, breakers, latency, the waits it estimates); tests inject a fake one."""


ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("POST", "/v1/chat/completions", chat.chat_completions),
    ("POST", "/v1/responses", responses_api.create_response),
    ("*", "/v1/responses/{response_id}", responses_api.stored_response),
    ("*", "/v1/responses/{response_id}/{action:cancel|input_items}", responses_api.stored_response),
    ("POST", "/v1/messages", messages_api.create_message),
    ("POST", "/v1/messages/count_tokens", messages_api.count_tokens),
    ("POST", "/v1/embeddings", embeddings.embeddings),
    ("GET", "/v1/models", info.list_models),
    ("GET", "/v1/models/{model:.+}", info.get_model),
    ("POST", "/v1/routing/explain", routing_api.explain),
    ("GET", "/v1/routing/latency", routing_api.latency),
    ("POST", "/v1/routing/estimate-cost", routing_api.estimate_cost),
    ("GET", "/healthz", info.healthz),
    ("GET", "/readyz", info.readyz),
    ("GET", "/metrics", info.metrics),
)
"""Every route the proxy serves (method, path, handler); the request lifecycle wraps each as it registers it."""


async def _run_source(app: web.Application) -> AsyncIterator[None]:
    """Run the config source for the app's lifetime, then close upstream pools."""
    runtime = app[RUNTIME]
    store = app[FLEET].store
    if store is not None:
        await store.connect()
    task = asyncio.create_task(app[SOURCE].run(runtime), name="switchboard-config-source")
    scraper = asyncio.create_task(scrape_forever(runtime.router.endpoints), name="switchboard-endpoint-metrics")
    yield
    for running in (task, scraper):
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    await runtime.close()
    await app[FLEET].close()


def client_keys(options: AppOptions, source: ConfigSource) -> Callable[[], KeyStore] | None:
    """What the request lifecycle checks keys against: the keys file, plus the source's team keys; None: auth off.

    Client auth is the platform's choice (a keys file, or ``client_auth``): a team
    creating a key never turns it on for everyone else.
    """
    if options.api_keys is None and not options.client_auth:
        return None
    teams = source.client_keys
    if teams is None:
        return options.api_keys or KeyStore.empty
    return CombinedKeys(options.api_keys, teams).current


def create_app(source: ConfigSource, options: AppOptions | None = None) -> web.Application:
    """A proxy app whose config comes from ``source`` (a file or the cluster)."""
    options = options or AppOptions()

    def health() -> HealthSource | None:
        return runtime.router.provider_health  # bound below; only called at scrape time

    metrics = create_metrics(health)
    keys = client_keys(options, source)
    app = web.Application(client_max_size=options.max_body_bytes)
    store = (
        FleetStore(options.state_store, metrics=metrics.registry, values_from=metrics.value_source)
        if options.state_store
        else None
    )
    runtime = Runtime(
        metrics=metrics,
        pricing=options.pricing,
        fleet=FleetLimiter(store, metrics=metrics.registry),
        secrets=source.secrets,
        egress=source.egress,
        routing_clock=options.routing_clock,
        telemetry=options.telemetry,
    )
    lifecycle = RequestLifecycle(runtime=runtime, access_log=AccessLog(), keys=keys)
    if store is not None:
        runtime.router.share_limits()  # RPM/TPM are the fleet limiter's from now on
    app[RUNTIME] = runtime
    app[FLEET] = runtime.fleet
    app[SOURCE] = source
    app[STARTED_AT] = time.time()
    lifecycle.add_routes(app.router, ROUTES)
    app.cleanup_ctx.append(lifecycle.writing_access_log)  # first in, last out: the last requests' lines are written
    app.cleanup_ctx.append(_run_source)
    return app
