"""Scrape each endpoint's Prometheus metrics for least-queue picking and queue saturation.

Only pools that need it (policy ``least-queue`` or a ``maxWaiting`` /
``maxKvCacheUsage`` threshold) are scraped, each at its own interval. A scrape
that fails or lacks the metric leaves the figure unknown (picking then uses the
in-flight count alone); it never ejects an endpoint, which only calls do.
"""

import asyncio
import logging
import time
from collections.abc import Iterable

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from switchboard.api.endpoints import EndpointMetrics
from switchboard.proxy.endpoints.pool import EndpointPool, Member
from switchboard.proxy.endpoints.table import EndpointTable

log = logging.getLogger("switchboard.proxy.endpoints")
IDLE_TICK_S = 0.5
MAX_METRICS_BYTES = 4 * 1024 * 1024
SCRAPE_TIMEOUT_S = 1.0
"""A busy model server can be slow to answer /metrics; a short interval must not turn that into unknowns."""


def read_gauges(text: str, names: Iterable[str]) -> dict[str, float]:
    """Each named metric's value summed over its series (e.g. one per model); absent names are left out."""
    wanted = set(names)
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in wanted:
                found[sample.name] = found.get(sample.name, 0.0) + float(sample.value)
    return found


async def scrape_forever(table: EndpointTable) -> None:
    """Until cancelled: scrape every due endpoint of every pool that needs figures."""
    due: dict[int, float] = {}  # id(pool) -> next scrape time
    async with aiohttp.ClientSession() as session:
        while True:
            now = time.monotonic()
            pools = [p for p in table.pools.values() if p.picking.scrapes]
            ready = [p for p in pools if due.get(id(p), 0.0) <= now]
            for pool in ready:
                due[id(pool)] = now + pool.picking.metrics.interval_ms / 1000
            try:
                await asyncio.gather(*(_scrape_pool(session, pool) for pool in ready))
            except Exception:  # a bug here must not stop scraping for good
                log.exception("scraping endpoint metrics failed")
            live = {id(p) for p in pools}
            due = {k: v for k, v in due.items() if k in live}
            wake = min(due.values(), default=time.monotonic() + IDLE_TICK_S)
            await asyncio.sleep(max(0.01, min(IDLE_TICK_S, wake - time.monotonic())))


async def _scrape_pool(session: aiohttp.ClientSession, pool: EndpointPool) -> None:
    settings = pool.picking.metrics
    members = [m for m in pool.members.values() if not m.removed]
    await asyncio.gather(*(_scrape(session, m, settings, pool.scheme) for m in members))


async def _scrape(session: aiohttp.ClientSession, member: Member, settings: EndpointMetrics, scheme: str) -> None:
    url = f"{scheme}://{member.key}{settings.path}"
    timeout = aiohttp.ClientTimeout(total=max(SCRAPE_TIMEOUT_S, settings.interval_ms / 1000))
    try:
        async with session.get(url, timeout=timeout, allow_redirects=False) as response:
            if response.status != 200:
                raise ValueError(f"HTTP {response.status}")
            raw = await response.content.read(MAX_METRICS_BYTES)
        gauges = read_gauges(raw.decode("utf-8", "replace"), (settings.waiting_metric, settings.kv_cache_metric))
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        log.debug("scraping %s failed: %s", url, error)
        member.waiting = member.kv_cache = None
        return
    member.waiting = gauges.get(settings.waiting_metric)
    member.kv_cache = gauges.get(settings.kv_cache_metric)
