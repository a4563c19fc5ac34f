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

from switchboard.api.profile import RateLimit
from switchboard.proxy.adapters.base import Usage
from switchboard.proxy.fleet.buckets import Bucket, Slots, Verdict, adjust_local, decide, decide_local, limit_buckets
from switchboard.proxy.fleet.store import FleetStore
from switchboard.proxy.routing.pricing import DEFAULT_OUTPUT_TOKENS
from switchboard.proxy.routing.types import Attempt, Plan, RouteRequest
from switchboard.proxy.routing.windows import TokenBucket

log = logging.getLogger("switchboard.proxy.fleet")


@dataclass(frozen=True, slots=True)
class ClientLimit:
    """A client key's own limits (from the keys file), keyed by the key's name."""

    name: str
    rate_limit: RateLimit


def reserved_tokens(route: RouteRequest) -> int:
    """Estimated prompt plus the completion budget (``max_tokens``, else the default estimate)."""
    if route.endpoint == "embeddings":
        return route.prompt_tokens
    return route.prompt_tokens + (route.max_tokens if route.max_tokens is not None else DEFAULT_OUTPUT_TOKENS)


def request_slots(plan: Plan, route: RouteRequest, client: ClientLimit | None, *, shared: bool) -> Slots:
    """The buckets of a planned request.

    ``shared``: the profile and provider limits are the limiter's (the store is
    configured); otherwise the router enforces them and only the client's remain.
    """
    tokens = reserved_tokens(route)
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
    if client is not None:
        limit = client.rate_limit
        mandatory += limit_buckets("client", client.name, limit.requests_per_minute, limit.tokens_per_minute, tokens)
    return Slots(mandatory, tuple(candidates))


def admitted_plan(plan: Plan, verdict: Verdict, slots: Slots) -> Plan:
    """The plan without the providers whose buckets refused the request (the charged one first)."""
    limited = {p for p, _ in slots.candidates} - verdict.admitting
    if not limited:
        return plan
    attempts = tuple(a for a in plan.attempts if a.provider.key not in limited)
    excluded = {**plan.excluded, **dict.fromkeys(limited, "over a fleet-wide rate limit")}
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
    """Admits requests against the fleet's buckets: in the store when it answers, else 1/N locally."""

    def __init__(self, store: FleetStore | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self._local: dict[str, TokenBucket] = {}
        self._clock = clock

    @property
    def shares_limits(self) -> bool:
        """Profile and provider limits are enforced here (a store is configured), not by the router."""
        return self.store is not None

    async def admit(self, slots: Slots, replicas: int) -> "Reservation":
        if self.store is not None and (slots.mandatory or any(bs for _, bs in slots.candidates)):
            reply = await self.store.reserve(slots)
            if reply is not None:
                admitted, chosen, levels = reply
                verdict = decide(slots, dict(zip([b.key for b in _all(slots)], levels, strict=True)))
                charged = slots.candidates[chosen - 1][0] if chosen else None
                if (verdict.admitted, verdict.chosen) != (admitted, charged):  # twins: say so if they ever differ
                    log.error("state store and local decision differ for %s", [b.key for b in _all(slots)])
                return Reservation(self, slots, verdict, shared=True)
        verdict = decide_local(slots, self._local, self._clock(), 1 / max(1, replicas))
        return Reservation(self, slots, verdict, shared=False, replicas=replicas)

    def _apply(self, changes: Sequence[tuple[Bucket, int]], *, shared: bool, replicas: int) -> None:
        if shared:
            if self.store is not None:
                self.store.adjust(changes)  # down since: the reservation in the store ages out by itself
            return
        adjust_local(self._local, changes, self._clock(), 1 / max(1, replicas))

    async def close(self) -> None:
        if self.store is not None:
            await self.store.close()


class Reservation:
    """One request's hold on its buckets; ``close`` (once) reconciles or refunds it."""

    __slots__ = ("_closed", "_limiter", "_replicas", "_served", "_shared", "slots", "tokens", "verdict")

    def __init__(
        self, limiter: FleetLimiter, slots: Slots, verdict: Verdict, *, shared: bool, replicas: int = 1
    ) -> None:
        self._limiter = limiter
        self.slots = slots
        self.verdict = verdict
        self.tokens = max((b.amount for b in _all(slots) if b.unit == "tokens"), default=0)
        self._shared = shared
        self._replicas = replicas
        self._served: tuple[Attempt, Usage] | None = None
        self._closed = False

    def settle(self, attempt: Attempt, usage: Usage) -> None:
        """The request was answered by ``attempt`` with ``usage`` (called when the cost is known)."""
        self._served = (attempt, usage)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        changes = settlement(self.slots, self.verdict, self.tokens, self._served)
        if changes:
            self._limiter._apply(changes, shared=self._shared, replicas=self._replicas)


def _all(slots: Slots) -> tuple[Bucket, ...]:
    return (*slots.mandatory, *(b for _, bs in slots.candidates for b in bs))
