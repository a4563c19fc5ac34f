"""Pure status aggregation: previous status + this replica's view + now -> patch or None.

Replicas share ``status.replicas`` lists, so each write is a read-modify-write of
the whole list (the shell guards it with the resourceVersion). These functions
decide what that write is, and whether one is needed at all:

* a write happens when this replica's entry changed, when its entry is older
  than ``heartbeat`` (so peers do not prune a live replica), or when entries of
  other replicas are older than ``ttl`` and must be pruned;
* values are rounded first (whole ms, rates to 3 places) so jitter does not
  count as a change.

Summary over live replicas (those updated within ``ttl``), shown by the printer
columns: the worst circuit (open > half-open > closed); the mean of EMA and p50;
the max of p95; the error rate weighted by each replica's requests per minute
(plain mean when nobody has traffic); the sum of requests per minute (fleet
rate); the last error of the most recently updated replica that has one.

A profile's budget (``status.budget``) over the live replicas' spend entries in
the writer's window: with a state store every replica reads the same fleet-wide
counter, which only grows within a window, so the largest read is the freshest
(``max``); replicas without a store each record only their own spend, so the
fleet's is their ``sum``. Where both kinds exist (some replica's store is down)
the shared reads win: spend recorded alone during an outage is not in the store.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import ValidationError

from switchboard.api.money import usd
from switchboard.api.profile import Budget
from switchboard.api.status import (
    BudgetStatus,
    ProviderHealth,
    ReplicaProviderHealth,
    ReplicaSpend,
    ReplicaSync,
    worst_circuit,
)
from switchboard.api.timestamps import parse_time, rfc3339

Entry = TypeVar("Entry", ReplicaProviderHealth, ReplicaSync)

_LAST_ERROR_MAX = 256


@dataclass(frozen=True, slots=True)
class Timing:
    ttl: timedelta  # entries older than this are pruned and not aggregated
    heartbeat: timedelta  # rewrite an unchanged own entry after this long


def normalize(health: ProviderHealth) -> ProviderHealth:
    """Round so that only meaningful changes cause a write."""

    def ms(v: float | None) -> float | None:
        return None if v is None else float(round(v))

    error = health.last_error[:_LAST_ERROR_MAX] if health.last_error else None
    return ProviderHealth(
        circuit=health.circuit,
        ema_ms=ms(health.ema_ms),
        p50_ms=ms(health.p50_ms),
        p95_ms=ms(health.p95_ms),
        error_rate=round(health.error_rate, 3),
        requests_per_minute=round(health.requests_per_minute, 1),
        last_error=error,
        endpoints=health.endpoints,
        endpoint_states=health.endpoint_states,
    )


def _health_of(entry: ReplicaProviderHealth) -> ProviderHealth:
    return ProviderHealth.model_validate(entry.model_dump(exclude={"replica", "updated_at"}))


def _entries(raw: Any, model: type[Entry]) -> list[Entry]:
    """Valid entries of a raw ``status.replicas`` list; malformed ones are dropped."""
    entries: list[Entry] = []
    for item in raw if isinstance(raw, list) else []:
        try:
            entries.append(model.model_validate(item))
        except ValidationError:
            continue
    return entries


def _is_live(updated_at: str, now: datetime, ttl: timedelta) -> bool:
    when = parse_time(updated_at)
    return when is not None and now - when <= ttl


def summarize(entries: Sequence[ReplicaProviderHealth]) -> ProviderHealth | None:
    """Aggregate over the given (live) replica entries, as documented above."""
    if not entries:
        return None
    circuit = worst_circuit(e.circuit for e in entries)
    emas = [e.ema_ms for e in entries if e.ema_ms is not None]
    p50s = [e.p50_ms for e in entries if e.p50_ms is not None]
    p95s = [e.p95_ms for e in entries if e.p95_ms is not None]
    rpm = sum(e.requests_per_minute for e in entries)
    if rpm > 0:
        error_rate = sum(e.error_rate * e.requests_per_minute for e in entries) / rpm
    else:
        error_rate = sum(e.error_rate for e in entries) / len(entries)
    with_error = sorted((e for e in entries if e.last_error), key=lambda e: e.updated_at)
    with_endpoints = sorted((e for e in entries if e.endpoints), key=lambda e: e.updated_at)
    return normalize(
        ProviderHealth(
            circuit=circuit,
            ema_ms=sum(emas) / len(emas) if emas else None,
            p50_ms=sum(p50s) / len(p50s) if p50s else None,
            p95_ms=max(p95s) if p95s else None,
            error_rate=min(1.0, error_rate),
            requests_per_minute=rpm,
            last_error=with_error[-1].last_error if with_error else None,
            endpoints=with_endpoints[-1].endpoints if with_endpoints else None,
        )
    )


def _own_entry_current(own: Entry | None, same: bool, now: datetime, timing: Timing) -> bool:
    if own is None or not same:
        return False
    when = parse_time(own.updated_at)
    return when is not None and now - when < timing.heartbeat


def provider_status_patch(
    status: Mapping[str, Any], replica: str, health: ProviderHealth, now: datetime, timing: Timing
) -> dict[str, Any] | None:
    """The merge patch for ``LLMProvider.status`` (replicas + summary), or None."""
    entries = _entries(status.get("replicas"), ReplicaProviderHealth)
    mine = normalize(health)
    own = next((e for e in entries if e.replica == replica), None)
    others = [e for e in entries if e.replica != replica]
    live_others = [e for e in others if _is_live(e.updated_at, now, timing.ttl)]
    unchanged = own is not None and _health_of(own) == mine
    if _own_entry_current(own, unchanged, now, timing) and len(live_others) == len(others):
        assert own is not None
        expected = summarize([*live_others, own])
        if _summary_of(status) == expected:
            return None
    entry = ReplicaProviderHealth(replica=replica, updated_at=rfc3339(now), **mine.model_dump())
    replicas = sorted([*live_others, entry], key=lambda e: e.replica)
    summary = summarize(replicas)
    return {
        "replicas": [e.to_wire() for e in replicas],
        "summary": summary.to_wire() if summary else None,
    }


def _summary_of(status: Mapping[str, Any]) -> ProviderHealth | None:
    try:
        return ProviderHealth.model_validate(status["summary"])
    except (KeyError, TypeError, ValidationError):
        return None


@dataclass(frozen=True, slots=True)
class SpendView:
    """What one replica knows of a profile's budget now: its spend reading and the budget it applies."""

    reading: ReplicaSpend
    budget: Budget
    resets_at: datetime


def profile_status_patch(
    status: Mapping[str, Any],
    replica: str,
    served_hash: str,
    now: datetime,
    timing: Timing,
    spend: SpendView | None = None,
) -> dict[str, Any] | None:
    """The merge patch for ``RoutingProfile.status`` (replicas, inSyncReplicas, budget), or None.

    ``inSyncReplicas`` counts live replicas whose hash equals the operator's
    ``status.configHash`` (0 while the operator has not published one).
    """
    entries = _entries(status.get("replicas"), ReplicaSync)
    own = next((e for e in entries if e.replica == replica), None)
    others = [e for e in entries if e.replica != replica]
    live_others = [e for e in others if _is_live(e.updated_at, now, timing.ttl)]
    target = status.get("configHash")
    reading = spend.reading if spend is not None else None
    unchanged = own is not None and own.config_hash == served_hash and own.spend == reading
    if _own_entry_current(own, unchanged, now, timing) and len(live_others) == len(others):
        assert own is not None
        current = [*live_others, own]
        if status.get("inSyncReplicas") == _in_sync(current, target) and status.get("budget") == _budget(
            current, spend
        ):
            return None
    entry = ReplicaSync(replica=replica, config_hash=served_hash, updated_at=rfc3339(now), spend=reading)
    replicas = sorted([*live_others, entry], key=lambda e: e.replica)
    return {
        "replicas": [e.to_wire() for e in replicas],
        "inSyncReplicas": _in_sync(replicas, target),
        "budget": _budget(replicas, spend),
    }


def budget_status(entries: Sequence[ReplicaSync], spend: SpendView) -> BudgetStatus:
    """The fleet's spend in the writer's window, by the rule in the module docstring."""
    window = spend.reading.window
    readings = [e.spend for e in entries if e.spend is not None and e.spend.window == window]
    shared = [r.spent_usd for r in readings if r.shared]
    spent = max(shared) if shared else sum(r.spent_usd for r in readings)
    limit = spend.budget.limit_usd
    percent = spent * 100 / limit
    state = "exceeded" if spent >= limit else "soft" if percent >= spend.budget.soft_percent else "ok"
    return BudgetStatus(
        period=spend.budget.period,
        window=window,
        spent_usd=round(spent, 6),
        limit_usd=limit,
        percent=round(percent, 1),
        state=state,
        resets_at=rfc3339(spend.resets_at),
        shared=bool(shared),
        spend=f"{usd(spent)}/{usd(limit)} ({percent:.0f}%)",
    )


def _budget(entries: Sequence[ReplicaSync], spend: SpendView | None) -> dict[str, Any] | None:
    return budget_status(entries, spend).to_wire() if spend is not None else None


def _in_sync(entries: Sequence[ReplicaSync], target: object) -> int:
    return sum(1 for e in entries if isinstance(target, str) and e.config_hash == target)


def expire_stale(plural: str, status: Mapping[str, Any], now: datetime, ttl: timedelta) -> dict[str, Any] | None:
    """The merge patch dropping replica entries older than ``ttl``, or None if none is.

    Live replicas prune each other's stale entries on their own writes; when every
    replica is gone nobody writes, so the operator applies this on its resync and
    ``kubectl get`` then shows that nothing serves (no summary, ``inSyncReplicas`` 0).
    ``plural`` is ``llmproviders`` or ``routingprofiles``.
    """
    raw = status.get("replicas")
    if not isinstance(raw, list) or not raw:
        return None
    if plural == "llmproviders":
        health = [e for e in _entries(raw, ReplicaProviderHealth) if _is_live(e.updated_at, now, ttl)]
        if len(health) == len(raw):
            return None
        summary = summarize(health)
        return {"replicas": _wire(health), "summary": summary.to_wire() if summary else None}
    synced = [e for e in _entries(raw, ReplicaSync) if _is_live(e.updated_at, now, ttl)]
    if len(synced) == len(raw):
        return None
    return {"replicas": _wire(synced), "inSyncReplicas": _in_sync(synced, status.get("configHash"))}


def _wire(entries: Sequence[ReplicaProviderHealth] | Sequence[ReplicaSync]) -> list[dict[str, object]]:
    return [e.to_wire() for e in sorted(entries, key=lambda e: e.replica)]
