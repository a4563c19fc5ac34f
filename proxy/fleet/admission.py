"""One request's reservation in the fleet's buckets: taken at the start, reconciled at the end.

``request_slots`` (pure) says which buckets a planned request draws from;
``FleetLimiter.admit`` takes them (Redis when it answers, else this replica's
1/N share) and ``Reservation.settle``/``close`` reconcile the token estimate
with the real usage, or refund it when nothing was served.
"""

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from prometheus_client import CollectorRegistry, Gauge

from switchboard.api.profile import Budget, RateLimit
from switchboard.proxy.adapters.base import Usage
from switchboard.proxy.fleet.buckets import Bucket, Slots, Verdict, adjust_local, decide, decide_local, limit_buckets
from switchboard.proxy.fleet.budget import SPEND_PREFIX, BudgetLine, Spend, budget_line
from switchboard.proxy.fleet.store import FleetStore
from switchboard.proxy.routing.exclusion import Exclusion, ExclusionKind
from switchboard.proxy.routing.pricing import DEFAULT_OUTPUT_TOKENS
from switchboard.proxy.routing.types import Attempt, Plan, RouteRequest
from switchboard.proxy.routing.windows import TokenBucket

log = logging.getLogger("switchboard.proxy.fleet")
FLEET_LIMITED = Exclusion(ExclusionKind.LIMITED, "over a fleet-wide rate limit")


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
    """The buckets and budgets of a planned request.

    ``shared``: the profile and provider limits are the limiter's (the store is
    configured); otherwise the router enforces them and only the client's remain.
    """
    tokens = reserved_tokens(route)
    budgets: list[BudgetLine] = []
    if plan.profile.budget is not None:
        budgets.append(budget_line("profile", plan.profile.key, plan.profile.budget, now))
    if client is not None and client.budget is not None:
        budgets.append(budget_line("client", client.name, client.budget, now))
    mandatory: tuple[Bucket, ...] = ()
    candidates: list[tuple[str, tuple[Bucket, ...]]] = []
    if shared:
        limit = plan.profile.rate_limit
        mandatory += limit_buckets(
            "profile", plan.profile.key, limit.requests_per_minute, limit.tokens_per_minute, tokens
        )
        seen: set[str] = set()
        for attempt in plan.attempts:
            provider = attempt.provider
            if provider.key not in seen:
                seen.add(provider.key)
                limits = provider.limits
                candidates.append(
                    (
                        provider.key,
                        limit_buckets(
                            "provider", provider.key, limits.requests_per_minute, limits.tokens_per_minute, tokens
                        ),
                    )
                )
    if client is not None and client.rate_limit is not None:
        limit = client.rate_limit
        mandatory += limit_buckets("client", client.name, limit.requests_per_minute, limit.tokens_per_minute, tokens)
    return Slots(mandatory, tuple(candidates), tuple(budgets))


def admitted_plan(plan: Plan, verdict: Verdict, slots: Slots) -> Plan:
    """The plan without the providers whose buckets refused the request (the charged one first)."""
    limited = {p for p, _ in slots.candidates} - verdict.admitting
    if not limited:
        return plan
    attempts = tuple(a for a in plan.attempts if a.provider.key not in limited)
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
        self._warned: set[str] = set()

    @property
    def shares_limits(self) -> bool:
        """Profile and provider limits are enforced here (a store is configured), not by the router."""
        return self.store is not None

    async def admit(self, slots: Slots, replicas: int) -> "Reservation":
        verdict: Verdict | None = None
        if self.store is not None and not slots.empty:
            reply = await self.store.reserve(slots)
            if reply is not None:
                admitted, chosen, levels, spent = reply
                keys = [b.key for b in slots.buckets]
                spends = dict(zip([line.key for line in slots.budgets], spent, strict=True))
                verdict = decide(slots, dict(zip(keys, levels, strict=True)), spends)
                charged = slots.candidates[chosen - 1][0] if chosen else None
                if (verdict.admitted, verdict.chosen) != (admitted, charged):  # twins: say so if they ever differ
                    log.error("state store and local decision differ for %s", keys)
        shared = verdict is not None
        if verdict is None:
            verdict = decide_local(slots, self._local, self._spent, self._clock(), 1 / max(1, replicas))
        self._observe(verdict)
        return Reservation(self, slots, verdict, shared=shared, replicas=replicas)

    def _observe(self, verdict: Verdict) -> None:
        for line, spent, state in verdict.spent:
            budget = line.key.removeprefix(SPEND_PREFIX).rsplit(":", 1)[0]  # "profile:ns/name" or "client:key"
            self._spend_gauge.labels(budget).set(spent)
            self._limit_gauge.labels(budget).set(line.limit_usd)
            if state != "ok" and line.key not in self._warned:
                self._warned.add(line.key)  # once per window and replica
                log.warning(
                    "%s reached %s of its %s budget: $%.4f of $%.2f (%s)",
                    line.owner,
                    "the limit" if state == "exceeded" else f"{line.budget.soft_percent:g}%",
                    line.budget.period,
                    spent,
                    line.limit_usd,
                    line.budget.soft_action if state == "soft" else "refusing with 429 budget_exceeded",
                )

    def _apply(
        self, changes: Sequence[tuple[Bucket, int]], spends: Sequence[Spend], *, shared: bool, replicas: int
    ) -> None:
        if shared:
            if self.store is not None:
                self.store.adjust(changes, spends)  # down since: the reservation in the store ages out by itself
            return
        adjust_local(self._local, changes, self._clock(), 1 / max(1, replicas))
        for spend in spends:
            self._spent[spend.line.key] = self._spent.get(spend.line.key, 0.0) + spend.usd

    async def close(self) -> None:
        if self.store is not None:
            await self.store.close()


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
        if changes or spends:
            self._limiter._apply(changes, spends, shared=self._shared, replicas=self._replicas)
