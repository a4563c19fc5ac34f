"""Which fleet-wide buckets a request draws from, and the one admission rule both stores apply.

A request is admitted in one step (one Redis round trip, or one local call):

* the **mandatory** buckets (the profile's and the client key's RPM/TPM) must
  all admit it, else the client gets a 429;
* of the **candidates** (one slot per distinct provider of the plan, in plan
  order, each holding that provider's RPM/TPM buckets) the first whose buckets
  all admit it is charged; the others are only reported as admitting or not,
  so the plan can drop those over their limit;
* a **session** (affinity on) bound to one of the candidates keeps it while its
  buckets admit the request; the candidate charged becomes the session's
  binding, so every replica sends the session to the same provider.

Tokens are reserved as the estimated prompt plus the completion budget and
reconciled with the real usage when the request ends (``settlement``).
``decide`` is the reference semantics; ``lua.RESERVE`` is its server-side twin.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from switchboard.proxy.fleet.budget import BudgetLine, State, exceeded_message
from switchboard.proxy.routing.windows import TokenBucket

Unit = Literal["requests", "tokens"]
KEY_PREFIX = "sb:rl:"
IDLE_EXPIRY_S = 60
"""Kept this long after it refilled completely: by then it is full again anyway, so Redis may forget it."""


@dataclass(frozen=True, slots=True)
class Bucket:
    """One fleet-wide per-minute limit: its store key, capacity and what this request takes."""

    key: str
    per_minute: float
    amount: int
    unit: Unit
    owner: str = ""  # for messages: "profile 'team-a/chat'"


@dataclass(frozen=True, slots=True)
class Session:
    """A session's binding to a provider in the store: its key and how long it outlives its last request."""

    key: str
    ttl_s: float


@dataclass(frozen=True, slots=True)
class Slots:
    mandatory: tuple[Bucket, ...]
    candidates: tuple[tuple[str, tuple[Bucket, ...]], ...]  # (provider key, its buckets), plan order
    budgets: tuple[BudgetLine, ...] = ()
    session: Session | None = None

    @property
    def buckets(self) -> tuple[Bucket, ...]:
        """Every bucket, mandatory first, then the candidates' in plan order (the store's key order)."""
        return (*self.mandatory, *(b for _, bs in self.candidates for b in bs))

    @property
    def empty(self) -> bool:
        return (
            not self.mandatory
            and not self.budgets
            and self.session is None
            and not any(bs for _, bs in self.candidates)
        )


@dataclass(frozen=True, slots=True)
class Level:
    """A mandatory bucket after the decision: what is left and when it is full again."""

    bucket: Bucket
    remaining: float
    wait_s: float  # until another request like this one fits (0 when it does)
    reset_s: float  # until the bucket is full


@dataclass(frozen=True, slots=True)
class Verdict:
    admitted: bool
    chosen: str | None  # provider key charged, None when no candidate (or none admitted)
    admitting: frozenset[str]  # candidates whose buckets admit the request
    levels: tuple[Level, ...]
    retry_after_s: float  # when rejected: the soonest the request could pass
    spent: tuple[tuple[BudgetLine, float, State], ...] = ()  # each budget's spend this window, and its state
    over_budget: BudgetLine | None = None  # the budget that refused the request
    bound: str | None = None  # the provider the session was bound to (whether or not it admitted)

    def budget_refusal(self) -> str | None:
        """The message of the budget that refused the request (with its spend), or None when none did."""
        if self.over_budget is None:
            return None
        spent = next(s for line, s, _ in self.spent if line is self.over_budget)
        return exceeded_message(self.over_budget, spent)


def bucket_key(scope: str, owner: str, unit: Unit) -> str:
    """``sb:rl:<scope>:<owner>:<unit>`` (scope: provider, profile or client)."""
    return f"{KEY_PREFIX}{scope}:{owner}:{unit[0]}"


def limit_buckets(scope: str, owner: str, rpm: int | None, tpm: int | None, tokens: int) -> tuple[Bucket, ...]:
    """The request and token buckets of one limited owner (none for unset limits)."""
    out: list[Bucket] = []
    if rpm is not None:
        out.append(Bucket(bucket_key(scope, owner, "requests"), rpm, 1, "requests", f"{scope} {owner!r}"))
    if tpm is not None:
        out.append(Bucket(bucket_key(scope, owner, "tokens"), tpm, tokens, "tokens", f"{scope} {owner!r}"))
    return tuple(out)


def admits(level: float, bucket: Bucket) -> bool:
    """The amount fits, or the bucket is full (so an ask above capacity is not starved forever)."""
    return level >= bucket.amount or level >= bucket.per_minute


def wait_s(level: float, bucket: Bucket) -> float:
    missing = min(bucket.amount, bucket.per_minute) - level
    return 0.0 if missing <= 0 else missing * 60.0 / bucket.per_minute


def reset_s(level: float, bucket: Bucket) -> float:
    return max(0.0, (bucket.per_minute - level) * 60.0 / bucket.per_minute)


def decide(
    slots: Slots,
    levels: Mapping[str, float],
    spent: Mapping[str, float],
    share: float = 1.0,
    bound: str | None = None,
) -> Verdict:
    """The admission decision from the buckets' current levels (refilled to now), the spend so far and the
    provider the session is bound to (charged when it admits, else the first candidate that does)."""
    spending = tuple(
        (line, spent.get(line.key, 0.0), line.state(spent.get(line.key, 0.0), share)) for line in slots.budgets
    )
    over = next((line for line, _, state in spending if state == "exceeded"), None)
    if over is not None:
        untouched = tuple(_level(b, levels[b.key]) for b in slots.mandatory)
        wait = (over.reset_at - datetime.now(UTC)).total_seconds()
        return Verdict(False, None, frozenset(), untouched, max(1.0, wait), spending, over, bound)
    ok = all(admits(levels[b.key], b) for b in slots.mandatory)
    admitting = frozenset(
        provider for provider, buckets in slots.candidates if all(admits(levels[b.key], b) for b in buckets)
    )
    chosen = bound if bound in admitting else next((p for p, _ in slots.candidates if p in admitting), None)
    admitted = ok and (chosen is not None or not slots.candidates)
    mandatory = tuple(_level(b, levels[b.key] - (b.amount if admitted else 0)) for b in slots.mandatory)
    if admitted:
        return Verdict(True, chosen, admitting, mandatory, 0.0, spending, bound=bound)
    waits = [wait_s(levels[b.key], b) for b in slots.mandatory]
    if ok:  # only the providers are full: the soonest any of them admits
        waits.append(min(max((wait_s(levels[b.key], b) for b in bs), default=0.0) for _, bs in slots.candidates))
    return Verdict(False, None, admitting, mandatory, max(waits, default=0.0), spending, bound=bound)


def _level(bucket: Bucket, left: float) -> Level:
    return Level(bucket, left, wait_s(left, bucket), reset_s(left, bucket))


def charged(slots: Slots, verdict: Verdict) -> tuple[Bucket, ...]:
    """The buckets an admitted verdict takes from."""
    if not verdict.admitted:
        return ()
    picked = next((bs for p, bs in slots.candidates if p == verdict.chosen), ())
    return slots.mandatory + picked


def decide_local(
    slots: Slots, buckets: dict[str, TokenBucket], spent: Mapping[str, float], now: float, share: float
) -> Verdict:
    """``decide`` over in-process buckets and budgets sized ``share`` of each limit (1/N of the fleet's);
    charges the buckets."""
    levels = {b.key: _local(buckets, b, now, share).available(now) for b in slots.buckets}
    verdict = decide(_scale(slots, share), levels, spent, share)
    for b in charged(slots, verdict):
        buckets[b.key].take(now, b.amount)
    return verdict


def adjust_local(
    buckets: dict[str, TokenBucket], changes: Sequence[tuple[Bucket, int]], now: float, share: float
) -> None:
    """Add ``delta`` to what each bucket gave (negative: a refund), never above its capacity."""
    for bucket, delta in changes:
        local = _local(buckets, bucket, now, share)
        local.take(now, delta)


def _local(buckets: dict[str, TokenBucket], bucket: Bucket, now: float, share: float) -> TokenBucket:
    capacity = bucket.per_minute * share
    local = buckets.get(bucket.key)
    if local is None or not math.isclose(local.capacity, capacity):
        local = buckets[bucket.key] = TokenBucket(capacity, now)
    return local


def _scale(slots: Slots, share: float) -> Slots:
    def scale(b: Bucket) -> Bucket:
        return Bucket(b.key, b.per_minute * share, b.amount, b.unit, b.owner)

    return Slots(
        tuple(map(scale, slots.mandatory)),
        tuple((p, tuple(map(scale, bs))) for p, bs in slots.candidates),
        slots.budgets,
        slots.session,
    )
