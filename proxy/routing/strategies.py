"""Pure ordering strategies: given the eligible candidates (failover order) and
what the router knows right now, return every candidate, best first.

Every strategy returns all its input, so the plan keeps failing over down the
list after the chosen provider. Ties keep failover order (stable sorts).
"""

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from switchboard.api.profile import Preference, Strategy
from switchboard.api.provider import Ratings
from switchboard.proxy.routing.index import Candidate


@dataclass(frozen=True, slots=True)
class Signals:
    """Live inputs of the dynamic strategies, looked up by candidate."""

    rng: random.Random
    turn: int  # round-robin counter of the profile
    preference: Preference
    top_n: int
    ema_s: Callable[[Candidate], float | None]
    inflight: Callable[[Candidate], int]
    cost: Callable[[Candidate], float | None]


def preference_score(ratings: Ratings, preference: Preference) -> int:
    """speed: 2*speed+quality, cost: 2*cost+quality, quality: 3*quality, balanced: sum."""
    if preference == "speed":
        return 2 * ratings.speed + ratings.quality
    if preference == "cost":
        return 2 * ratings.cost + ratings.quality
    if preference == "quality":
        return 3 * ratings.quality
    return ratings.speed + ratings.cost + ratings.quality


def order(strategy: Strategy, candidates: Sequence[Candidate], signals: Signals) -> list[Candidate]:
    """Every candidate, best first, according to ``strategy``."""
    if len(candidates) <= 1:
        return list(candidates)
    return _ORDERERS[strategy](candidates, signals)


def score(strategy: Strategy, candidate: Candidate, signals: Signals) -> float | None:
    """The number a strategy ranks by, for ``explain`` (None where order is positional)."""
    if strategy == "weighted":
        return float(candidate.weight)
    if strategy == "least-latency":
        ema = signals.ema_s(candidate)
        return None if ema is None else ema * 1000
    if strategy == "least-cost":
        return signals.cost(candidate)
    if strategy == "least-busy":
        return float(signals.inflight(candidate))
    if strategy == "preference":
        return float(preference_score(candidate.ratings, signals.preference))
    return float(candidate.rank)


def weighted_shuffle(candidates: Sequence[Candidate], weights: Sequence[float], rng: random.Random) -> list[Candidate]:
    """Order drawn without replacement, each pick proportional to weight (Efraimidis-Spirakis).

    Zero-weight candidates never go first while a weighted one exists; they
    follow in failover order.
    """
    keyed = [(rng.random() ** (1.0 / w), i) for i, w in enumerate(weights) if w > 0]
    keyed.sort(reverse=True)
    picked = [candidates[i] for _, i in keyed]
    return picked + [c for c, w in zip(candidates, weights, strict=True) if w <= 0]


def _failover(candidates: Sequence[Candidate], signals: Signals) -> list[Candidate]:
    return list(candidates)


def _round_robin(candidates: Sequence[Candidate], signals: Signals) -> list[Candidate]:
    k = signals.turn % len(candidates)
    return [*candidates[k:], *candidates[:k]]


def _weighted(candidates: Sequence[Candidate], signals: Signals) -> list[Candidate]:
    return weighted_shuffle(candidates, [c.weight for c in candidates], signals.rng)


def _random(candidates: Sequence[Candidate], signals: Signals) -> list[Candidate]:
    shuffled = list(candidates)
    signals.rng.shuffle(shuffled)
    return shuffled


def _least_latency(candidates: Sequence[Candidate], signals: Signals) -> list[Candidate]:
    """Fastest EMA first; candidates without samples go before all (explored, never starved)."""
    unknown = [c for c in candidates if signals.ema_s(c) is None]
    known = sorted((c for c in candidates if signals.ema_s(c) is not None), key=lambda c: signals.ema_s(c) or 0.0)
    return unknown + known


def _least_cost(candidates: Sequence[Candidate], signals: Signals) -> list[Candidate]:
    """Cheapest estimate first; candidates without a known price last."""
    costs = {id(c): signals.cost(c) for c in candidates}
    return sorted(candidates, key=lambda c: (costs[id(c)] is None, costs[id(c)] or 0.0))


def _least_busy(candidates: Sequence[Candidate], signals: Signals) -> list[Candidate]:
    return sorted(candidates, key=signals.inflight)


def _preference(candidates: Sequence[Candidate], signals: Signals) -> list[Candidate]:
    """Rank by preference score, keep the top N, spread the first pick among them by weight."""
    ranked = sorted(candidates, key=lambda c: -preference_score(c.ratings, signals.preference))
    top, rest = ranked[: signals.top_n], ranked[signals.top_n :]
    if len(top) > 1:
        first = weighted_shuffle(top, [c.weight for c in top], signals.rng)[0]
        top = [first, *(c for c in top if c is not first)]
    return top + rest


_ORDERERS: Mapping[str, Callable[[Sequence[Candidate], Signals], list[Candidate]]] = {
    "failover": _failover,
    "round-robin": _round_robin,
    "weighted": _weighted,
    "random": _random,
    "least-latency": _least_latency,
    "least-cost": _least_cost,
    "least-busy": _least_busy,
    "preference": _preference,
}


def demote_slow_starters(
    ordered: list[Candidate], factors: Mapping[tuple[str, str], float], rng: random.Random
) -> list[Candidate]:
    """Probabilistic admission for providers whose circuit just closed.

    A candidate ramping up with factor f keeps its place with probability f and
    is otherwise moved behind the others (still listed, so still a fallback).
    """
    if not factors:
        return ordered
    kept: list[Candidate] = []
    demoted: list[Candidate] = []
    for c in ordered:
        f = factors.get(c.model_key)
        (demoted if f is not None and rng.random() >= f else kept).append(c)
    return kept + demoted
