"""The Redis (or Valkey) connection shared by the fleet, and whether to trust it right now.

Every call is bounded by ``timeout_s``. The first failure or timeout marks the
store down: from then on callers get ``None`` at once (and fall back to local
1/N enforcement) while a background probe PINGs every ``probe_interval_s``;
the first answered PING marks it up again. So an unavailable store costs a
request at most one timeout, and only the request that discovered it.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as redis
from prometheus_client import CollectorRegistry, Gauge
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from switchboard.proxy.fleet import lua
from switchboard.proxy.fleet.buckets import Bucket, Session, Slots
from switchboard.proxy.fleet.budget import Spend
from switchboard.proxy.metric_values import ValueSource
from switchboard.proxy.metrics import FastCounter, FastHistogram

log = logging.getLogger("switchboard.proxy.fleet")

POOL_SIZE = 16
SPEND_KEPT_S = 86400
"""A window's spend stays readable this long after the window ended."""
SHARED_STATE = "limits, budgets and sessions shared across the fleet"
"""What a reachable store gives the fleet; said the same in the log and in the Pod Event."""

HealthListener = Callable[[bool, str], None]
Rebind = tuple[Session, str]
"""A session to bind to another provider (the one that served it after a failover)."""
"""Called with (up, reason) on every change of the store's health."""


@dataclass(frozen=True, slots=True)
class StoreReply:
    """One admission as the store decided it: charged and bound provider keys, levels and spend read."""

    admitted: bool
    chosen: str | None
    bound: str | None
    levels: dict[str, float]
    spent: dict[str, float]


@dataclass(frozen=True, slots=True)
class StoreSettings:
    url: str  # redis://, rediss:// (TLS) or unix://
    password: str | None = None
    timeout_s: float = 0.05
    probe_interval_s: float = 1.0

    def __post_init__(self) -> None:
        problem = url_problem(self.url)
        if problem is not None:
            raise ValueError(problem)

    @property
    def safe_url(self) -> str:
        """The URL without any password, for logs and Events."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


SCHEMES = ("redis", "rediss", "unix")


def url_problem(url: str) -> str | None:
    """Why the proxy cannot use ``url`` as its state store, or None.

    Redis Cluster is refused: one admission reads and charges the keys of a profile, its providers, a
    client key, budgets and a session at once, and those live in different hash slots; putting them
    all in one slot (hash tags) would pin the whole fleet to one shard, which is one primary anyway.
    """
    scheme = urlsplit(url).scheme.lower()
    if "cluster" in scheme:
        return (
            f"state store {scheme}:// (Redis Cluster) is not supported: use one primary, with replicas and "
            "Sentinel or a managed failover for availability (see docs/fleet.md)"
        )
    if scheme not in SCHEMES:
        return f"state store URL must start with redis://, rediss:// or unix://, got {scheme or 'no scheme'}://"
    return None


def outage_detail(error: BaseException) -> str:
    """What went wrong, for the log line and the Event; a timeout carries no text of its own."""
    text = str(error) or ("no answer in time" if isinstance(error, TimeoutError) else "no detail")
    return f"{type(error).__name__}: {text}"[:200]


class FleetStore:
    """Runs the bucket scripts; ``None`` from a call means "decide locally"."""

    def __init__(
        self,
        settings: StoreSettings,
        *,
        metrics: CollectorRegistry,
        values_from: ValueSource | None = None,
        on_health: HealthListener | None = None,
    ) -> None:
        """``values_from``: the app's ``ProxyMetrics.value_source``, so the per-admission latency and the
        outage count take no lock (and no ``getpid`` under ``--workers``) per update."""
        self.settings = settings
        self._up_gauge = Gauge(
            "switchboard_state_store_up",
            "1 while limits are shared through the state store, 0 while enforced 1/N locally",
            registry=metrics,
            multiprocess_mode="livemin",
        )
        self._up_gauge.set(1)
        self._fail_open = FastCounter(
            "switchboard_state_store_fail_open",
            "Times the state store was found unavailable",
            registry=metrics,
            values_from=values_from,
        )
        self._latency = FastHistogram(
            "switchboard_state_store_seconds",
            "Round trip of one admission through the state store",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1),
            registry=metrics,
            values_from=values_from,
        )
        # A small pool of warm connections: a burst queues for one (each call holds it well under a
        # millisecond) instead of opening one connection per concurrent request.
        pool = redis.BlockingConnectionPool.from_url(
            settings.url,
            max_connections=POOL_SIZE,
            timeout=None,  # the wait for a connection is bounded by each call's wait_for
            password=settings.password,
            socket_timeout=settings.timeout_s * 4,
            socket_connect_timeout=settings.timeout_s * 4,
            decode_responses=True,
            # One immediate retry on a fresh connection: a pooled one may predate a server restart.
            # A server that is really down refuses it at once; wait_for bounds the rest.
            retry=Retry(NoBackoff(), 1),
        )
        self._client = redis.Redis(connection_pool=pool)
        self._reserve = self._client.register_script(lua.RESERVE)
        self._adjust = self._client.register_script(lua.ADJUST)
        self._listeners: list[HealthListener] = [on_health] if on_health else []
        self._probe: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.up = True  # optimistic: the first call finds out
        self.outages = 0  # times the store was found unavailable (the health Events compare it)
        self.reason = ""  # why, the last time it changed

    def on_health(self, listener: HealthListener) -> None:
        self._listeners.append(listener)

    async def connect(self) -> None:
        """Load the scripts up front (a restarted server forgets them; calls then reload them themselves).

        A Redis Cluster node is refused here too (a URL cannot tell): its MOVED answers would look like
        an outage forever, so the replica says why once and enforces 1/N locally instead.
        """
        try:
            info = await asyncio.wait_for(self._client.info("cluster"), self.settings.timeout_s * 20)
            if str(info.get("cluster_enabled", 0)) == "1":
                self._mark_down(RedisError("a Redis Cluster node; Redis Cluster is not supported"), probe=False)
                log.error(
                    "state store %s is a Redis Cluster node: not supported, see docs/fleet.md", self.settings.safe_url
                )
                return
            for script in (lua.RESERVE, lua.ADJUST):
                await asyncio.wait_for(self._client.script_load(script), self.settings.timeout_s * 20)
        except (RedisError, OSError, TimeoutError) as error:
            self._mark_down(error)
        else:
            log.info("state store %s: %s", self.settings.safe_url, SHARED_STATE)

    async def reserve(self, slots: Slots, *, dry: bool = False) -> StoreReply | None:
        """Admit (and charge, and bind the session) in one round trip; ``dry``: only read, for explain.
        None when the store cannot answer now."""
        if not self.up:
            return None
        buckets, session = slots.buckets, slots.session
        args: list[float | int | str] = [int(dry), len(slots.mandatory), len(slots.candidates), len(slots.budgets)]
        args += [session.ttl_s if session is not None else 0]
        args += [len(bs) for _, bs in slots.candidates]
        for b in buckets:
            args += [b.per_minute, b.amount]
        args += [line.limit_usd for line in slots.budgets]
        keys = [*(b.key for b in buckets), *(line.key for line in slots.budgets)]
        if session is not None:
            keys.append(session.key)
            args += [provider for provider, _ in slots.candidates]
        began = time.perf_counter()
        try:
            call = self._reserve(keys=keys, args=args)
            reply = await asyncio.wait_for(call, self.settings.timeout_s)
        except (RedisError, OSError, TimeoutError) as error:
            self._mark_down(error)
            return None
        self._latency.observe(time.perf_counter() - began)
        values = [float(x) for x in reply[3:]]
        split = len(buckets)
        names = [provider for provider, _ in slots.candidates]
        return StoreReply(
            admitted=bool(reply[0]),
            chosen=names[int(reply[1]) - 1] if int(reply[1]) else None,
            bound=names[int(reply[2]) - 1] if int(reply[2]) else None,
            levels=dict(zip((b.key for b in buckets), values[:split], strict=True)),
            spent=dict(zip((line.key for line in slots.budgets), values[split:], strict=True)),
        )

    async def read_spend(self, keys: Sequence[str]) -> list[float] | None:
        """The spend recorded under each key (0 when none), or None when the store cannot answer now."""
        if not self.up or not keys:
            return None if not self.up else []
        try:
            values = await asyncio.wait_for(self._client.mget(list(keys)), self.settings.timeout_s * 4)
        except (RedisError, OSError, TimeoutError) as error:
            self._mark_down(error)
            return None
        return [float(v) if v is not None else 0.0 for v in values]

    async def claim_once(self, key: str, ttl_s: int) -> bool | None:
        """Whether this replica is the fleet's first to claim ``key`` (SET NX); None when the store cannot say."""
        if not self.up:
            return None
        try:
            return bool(
                await asyncio.wait_for(self._client.set(key, "1", nx=True, ex=ttl_s), self.settings.timeout_s * 4)
            )
        except (RedisError, OSError, TimeoutError) as error:
            self._mark_down(error)
            return None

    def adjust(
        self, changes: Sequence[tuple[Bucket, int]], spends: Sequence[Spend] = (), rebind: Rebind | None = None
    ) -> bool:
        """Send a reconciliation without waiting for it; False when the store is down (caller adjusts locally)."""
        if not self.up:
            return False
        if changes or spends or rebind:
            task = asyncio.get_running_loop().create_task(self._send_adjust(changes, spends, rebind))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return True

    async def _send_adjust(
        self, changes: Sequence[tuple[Bucket, int]], spends: Sequence[Spend], rebind: Rebind | None
    ) -> None:
        args: list[float | int | str] = [len(changes), len(spends)]
        for bucket, delta in changes:
            args += [bucket.per_minute, delta]
        for spend in spends:
            args += [repr(spend.usd), int(spend.line.reset_at.timestamp()) + SPEND_KEPT_S]
        keys = [*(b.key for b, _ in changes), *(s.line.key for s in spends)]
        if rebind is not None:
            session, provider = rebind
            keys.append(session.key)
            args += [provider, session.ttl_s]
        try:
            call = self._adjust(keys=keys, args=args)
            await asyncio.wait_for(call, self.settings.timeout_s * 4)
        except (RedisError, OSError, TimeoutError) as error:
            self._mark_down(error)

    async def ping(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self._client.ping(), self.settings.timeout_s * 4))
        except (RedisError, OSError, TimeoutError):
            return False

    def _mark_down(self, error: BaseException, *, probe: bool = True) -> None:
        if not self.up:
            return
        self.up = False
        self.outages += 1
        self._up_gauge.set(0)
        self._fail_open.inc()
        self.reason = (
            f"state store {self.settings.safe_url} unavailable ({outage_detail(error)}): enforcing limits 1/N locally"
        )
        log.warning("%s", self.reason)
        self._notify(False, self.reason)
        if probe and (self._probe is None or self._probe.done()):
            self._probe = asyncio.get_running_loop().create_task(self._wait_until_back(), name="state-store-probe")

    async def _wait_until_back(self) -> None:
        while True:
            if await self.ping():
                break
            await asyncio.sleep(self.settings.probe_interval_s)
        # Connections opened before the outage point at a dead server: drop them, or the next calls fail again.
        await self._client.connection_pool.disconnect()
        self.up = True
        self._up_gauge.set(1)
        self.reason = f"state store {self.settings.safe_url} reachable again: {SHARED_STATE}"
        log.warning("%s", self.reason)
        self._notify(True, self.reason)

    def _notify(self, up: bool, reason: str) -> None:
        for listener in self._listeners:
            try:
                listener(up, reason)
            except Exception:  # a listener's bug must not break the request path
                log.exception("state store health listener failed")

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self._client.aclose()
