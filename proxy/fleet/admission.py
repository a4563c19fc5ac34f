"""One request's reservation in the fleet's buckets: taken at the start, reconciled at the end.

``request_slots`` (pure) says which buckets a planned request draws from;
``FleetLimiter.admit`` takes them (Redis when it answers, else this replica's
1/N share) and ``Reservation.settle``/``close`` reconcile the token estimate
with the real usage, or refund it when nothing was served.
"""

import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from prometheus_client import CollectorRegistry, Gauge

from switchboard.api.aggregation import SpendView
from switchboard.api.money import usd
from switchboard.api.profile import Budget, ProfileConfig, RateLimit
from switchboard.api.provider import ProviderConfig
from switchboard.api.status import ReplicaSpend
from switchboard.proxy.adapters.base import Usage
from switchboard.proxy.fleet.buckets import (
    Bucket,
    Session,
    Slots,
    Verdict,
    adjust_local,
    decide,
    decide_local,
    limit_buckets,
)
from switchboard.proxy.fleet.budget import SPEND_PREFIX, BudgetLine, BudgetNotice, Spend, budget_line
from switchboard.proxy.fleet.store import FleetStore, Rebind
from switchboard.proxy.routing.affinity import session_key
from switchboard.proxy.routing.engine import HINT_HEADER
from switchboard.proxy.routing.exclusion import Exclusion, ExclusionKind
from switchboard.proxy.routing.pricing import DEFAULT_OUTPUT_TOKENS
from switchboard.proxy.routing.types import Attempt, Plan, RouteRequest
from switchboard.proxy.routing.windows import TokenBucket

log = logging.getLogger("switchboard.proxy.fleet")
FLEET_LIMITED = Exclusion(ExclusionKind.LIMITED, "over a fleet-wide rate limit")

SESSION_PREFIX = "sb:aff:"
NOTICES_KEPT = 100


@dataclass(frozen=True, slots=True)
class ClientLimit:
    """A client key's own limits and budget (from the keys file), keyed by the key's name."""

    name: str
    rate_limit: RateLimit | None = None
    budget: Budget | None = None


def reserved_tokens(route: RouteRequest) -> int:
    """Estimated prompt plus the completion budget (``max_tokens``, else the default estimate)."""
    if route.endpoint == "embeddings":
        return route.prompt_tokens
    return route.prompt_tokens + (route.max_tokens if route.max_tokens is not None else DEFAULT_OUTPUT_TOKENS)


def request_slots(plan: Plan, route: RouteRequest, client: ClientLimit | None, *, shared: bool, now: datetime) -> Slots:
    """The buckets and budgets of a planned request (its providers in plan order)."""
    providers = {a.provider.key: a.provider for a in plan.attempts}
    return profile_slots(plan.profile, tuple(providers.values()), route, client, shared=shared, now=now)


def profile_slots(
    profile: ProfileConfig,
    providers: Sequence[ProviderConfig],
    route: RouteRequest,
    client: ClientLimit | None,
    *,
    shared: bool,
    now: datetime,
) -> Slots:
    """The buckets, budgets and session binding of a request to ``profile`` over ``providers`` (in order).

    ``shared``: the profile and provider limits and session bindings are the limiter's (the store is
    configured); otherwise the router enforces them and only the client's limits and the budgets remain.
    """
    tokens = reserved_tokens(route)
    budgets: list[BudgetLine] = []
    if profile.budget is not None:
        budgets.append(budget_line("profile", profile.key, profile.budget, now))
    if client is not None and client.budget is not None:
        budgets.append(budget_line("client", client.name, client.budget, now))
    mandatory: tuple[Bucket, ...] = ()
    candidates: tuple[tuple[str, tuple[Bucket, ...]], ...] = ()
    session: Session | None = None
    if shared:
        limit = profile.rate_limit
        mandatory += limit_buckets("profile", profile.key, limit.requests_per_minute, limit.tokens_per_minute, tokens)
        candidates = tuple(
            (p.key, limit_buckets("provider", p.key, p.limits.requests_per_minute, p.limits.tokens_per_minute, tokens))
            for p in providers
        )
        session = session_binding(profile, route)
    if client is not None and client.rate_limit is not None:
        limit = client.rate_limit
        mandatory += limit_buckets("client", client.name, limit.requests_per_minute, limit.tokens_per_minute, tokens)
    return Slots(mandatory, candidates, tuple(budgets), session if candidates else None)


def session_binding(profile: ProfileConfig, route: RouteRequest) -> Session | None:
    """The store key of the request's session binding (affinity on and a session named), else None.

    The session name is hashed: a client's header value never becomes a key as is, and cannot
    reach another profile's bindings.
    """
    affinity = profile.session_affinity
    if not affinity.enabled or (profile.allow_client_routing and route.headers.get(HINT_HEADER)):
        return None  # a client's explicit provider hint outranks its session, as in the router
    name = session_key(affinity, route)
    if name is None:
        return None
    digest = hashlib.blake2b(name.encode(), digest_size=16).hexdigest()
    return Session(f"{SESSION_PREFIX}{profile.key}:{digest}", affinity.ttl_seconds)


def admitted_plan(plan: Plan, verdict: Verdict, slots: Slots) -> Plan:
    """The plan without the providers whose buckets refused the request, the charged one first
    (a session's provider may come later in the strategy's order)."""
    limited = {p for p, _ in slots.candidates} - verdict.admitting
    attempts = plan.attempts
    if limited:
        attempts = tuple(a for a in attempts if a.provider.key not in limited)
    lead = next((i for i, a in enumerate(attempts) if a.provider.key == verdict.chosen), 0)
    if lead:
        attempts = (attempts[lead], *attempts[:lead], *attempts[lead + 1 :])
    if not limited and not lead:
        return plan
    excluded = {**plan.excluded, **dict.fromkeys(limited, FLEET_LIMITED)}
    return replace(plan, attempts=attempts, excluded=excluded)


def settlement(
    slots: Slots, verdict: Verdict, tokens: int, served: tuple[Attempt, Usage] | None
) -> list[tuple[Bucket, int]]:
    """What to add to each bucket once the request ended (negative: a refund).

    Served: token buckets move from the estimate to the real usage (kept when
    the upstream reported none); a provider other than the one charged (a
    failover) is charged its request and tokens. Not served: tokens refunded.
    """
    if not verdict.admitted:
        return []
    used = tokens
    if served is None:
        used = 0
    elif served[1].total_tokens > 0:
        used = served[1].total_tokens
    changes = [(b, used - tokens) for b in slots.mandatory if b.unit == "tokens"]
    by_provider = dict(slots.candidates)
    charged = by_provider.get(verdict.chosen or "", ())
    served_by = served[0].provider.key if served is not None else None
    if served_by == verdict.chosen:
        changes += [(b, used - tokens) for b in charged if b.unit == "tokens"]
    else:
        changes += [(b, -tokens) for b in charged if b.unit == "tokens"]
        other = by_provider.get(served_by or "", ())
        changes += [(b, used if b.unit == "tokens" else 1) for b in other]
    return [(b, d) for b, d in changes if d != 0]


class FleetLimiter:
    """Admits requests against the fleet's buckets and budgets: in the store when it answers, else 1/N locally."""

    def __init__(
        self,
        store: FleetStore | None,
        *,
        metrics: CollectorRegistry,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self._local: dict[str, TokenBucket] = {}
        self._spent: dict[str, float] = {}  # spend key -> USD this replica recorded while deciding alone
        self._clock = clock
        self._spend_gauge = Gauge(
            "switchboard_budget_spent_usd",
            "Spend in the current budget window, as last read (shared across the fleet with a state store)",
            ["budget"],
            registry=metrics,
            multiprocess_mode="livemax",
        )
        self._limit_gauge = Gauge(
            "switchboard_budget_limit_usd",
            "Hard limit of the budget's current window (the denominator of budget use in percent)",
            ["budget"],
            registry=metrics,
            multiprocess_mode="livemax",
        )
        self._warned: set[tuple[str, str]] = set()
        self.notices: deque[BudgetNotice] = deque(maxlen=NOTICES_KEPT)  # for cluster mode's Events

    @property
    def shares_limits(self) -> bool:
        """Profile and provider limits are enforced here (a store is configured), not by the router."""
        return self.store is not None

    async def admit(self, slots: Slots, replicas: int) -> "Reservation":
        verdict: Verdict | None = None
        if self.store is not None and not slots.empty:
            reply = await self.store.reserve(slots)
            if reply is not None:
                verdict = decide(slots, reply.levels, reply.spent, bound=reply.bound)
                if (verdict.admitted, verdict.chosen) != (reply.admitted, reply.chosen):  # twins: say if they differ
                    log.error("state store and local decision differ for %s", list(reply.levels))
        shared = verdict is not None
        if verdict is None:
            verdict = decide_local(slots, self._local, self._spent, self._clock(), 1 / max(1, replicas))
        self._observe(verdict)
        return Reservation(self, slots, verdict, shared=shared, replicas=replicas)

    def _observe(self, verdict: Verdict) -> None:
        for line, spent, state in verdict.spent:
            self._gauges(line, spent)
            if state != "ok" and (line.key, state) not in self._warned:
                self._warned = {w for w in self._warned if not _same_budget(w[0], line.key)}
                self._warned.add((line.key, state))  # once per window, state and replica
                self.notices.append(BudgetNotice(line, spent, state))
                log.warning(
                    "%s reached %s of its %s budget: %s of %s (%s)",
                    line.owner,
                    "the limit" if state == "exceeded" else f"{line.budget.soft_percent:g}%",
                    line.budget.period,
                    usd(spent),
                    usd(line.limit_usd),
                    line.budget.soft_action if state == "soft" else "refusing with 429 budget_exceeded",
                )

    def _apply(
        self,
        changes: Sequence[tuple[Bucket, int]],
        spends: Sequence[Spend],
        rebind: Rebind | None,
        *,
        shared: bool,
        replicas: int,
    ) -> None:
        if shared:
            if self.store is not None:  # down since: the reservation in the store ages out by itself
                self.store.adjust(changes, spends, rebind)
            return
        adjust_local(self._local, changes, self._clock(), 1 / max(1, replicas))
        for spend in spends:
            key = spend.line.key
            if key not in self._spent:  # a new window: the budget's earlier windows are over
                self._spent = {k: usd for k, usd in self._spent.items() if not _same_budget(k, key)}
            self._spent[key] = self._spent.get(key, 0.0) + spend.usd

    def _gauges(self, line: BudgetLine, spent: float) -> None:
        budget = _gauge_label(line)
        self._spend_gauge.labels(budget).set(spent)
        self._limit_gauge.labels(budget).set(line.limit_usd)

    async def spend(self, profiles: Sequence[ProfileConfig], now: datetime) -> dict[str, SpendView]:
        """Each budgeted profile's spend this window: read from the store (fleet-wide, one MGET) when it
        answers, else this replica's own record. Also refreshes ``switchboard_budget_spent_usd``."""
        lines = [budget_line("profile", p.key, p.budget, now) for p in profiles if p.budget is not None]
        if not lines:
            return {}
        read = await self.store.read_spend([line.key for line in lines]) if self.store is not None else None
        views: dict[str, SpendView] = {}
        for i, line in enumerate(lines):
            spent = read[i] if read is not None else self._spent.get(line.key, 0.0)
            self._gauges(line, spent)
            window = line.key.rsplit(":", 1)[1]
            reading = ReplicaSpend(window=window, spent_usd=round(spent, 6), shared=read is not None)
            views[line.owner_key] = SpendView(reading, line.budget, line.reset_at)
        return views

    async def close(self) -> None:
        if self.store is not None:
            await self.store.close()


def _same_budget(key: str, current: str) -> bool:
    """``key`` is another window of ``current``'s budget (kept records are pruned when a window begins)."""
    return key != current and key.rsplit(":", 1)[0] == current.rsplit(":", 1)[0]


def _gauge_label(line: BudgetLine) -> str:
    """``profile:ns/name`` or ``client:key`` (the spend key without its prefix and window)."""
    return line.key.removeprefix(SPEND_PREFIX).rsplit(":", 1)[0]


class Reservation:
    """One request's hold on its buckets; ``close`` (once) reconciles or refunds it."""

    __slots__ = ("_closed", "_cost", "_limiter", "_replicas", "_served", "_shared", "slots", "tokens", "verdict")

    def __init__(
        self, limiter: FleetLimiter, slots: Slots, verdict: Verdict, *, shared: bool, replicas: int = 1
    ) -> None:
        self._limiter = limiter
        self.slots = slots
        self.verdict = verdict
        self.tokens = max((b.amount for b in slots.buckets if b.unit == "tokens"), default=0)
        self._shared = shared
        self._replicas = replicas
        self._served: tuple[Attempt, Usage] | None = None
        self._cost = 0.0
        self._closed = False

    def settle(self, attempt: Attempt, usage: Usage, cost_usd: float | None) -> None:
        """An attempt used ``usage``, costing ``cost_usd`` (None: unknown price); the last one is what served."""
        self._served = (attempt, usage)
        self._cost += cost_usd or 0.0

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        changes = settlement(self.slots, self.verdict, self.tokens, self._served)
        spends = [Spend(line, self._cost) for line in self.slots.budgets] if self._cost > 0 else []
        rebind = None
        served_by = self._served[0].provider.key if self._served is not None else None
        if self.slots.session is not None and served_by is not None and served_by != self.verdict.chosen:
            rebind = (self.slots.session, served_by)
        if changes or spends or rebind:
            self._limiter._apply(changes, spends, rebind, shared=self._shared, replicas=self._replicas)
