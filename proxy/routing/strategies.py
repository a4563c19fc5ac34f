"""Pure ordering strategies: given the eligible candidates (failover order) and
what the router knows right now, return every candidate, best first.

Every strategy returns all its input, so the plan keeps failing over down the
list after the chosen provider. Ties keep failover order (stable sorts).

Hot path: each strategy computes its keys in one pass over precomputed
candidate data and sorts indices by key (``sorted`` is stable, so ties keep
failover order exactly as sorting ``(key, position)`` pairs would).
"""

import math
import random
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from switchboard.api.profile import Preference, Strategy
from switchboard.proxy.routing.index import Candidate, preference_score
from switchboard.proxy.routing.latency import LatencyStats
from switchboard.proxy.routing.pricing import DEFAULT_OUTPUT_TOKENS
from switchboard.proxy.routing.state import ProviderState

__all__ = ["Signals", "demote_slow_starters", "order", "preference_score", "score", "weighted_shuffle"]


class Signals(NamedTuple):
    """Live inputs of the dynamic strategies (a tuple: cheap to build once per request)."""

    rng: random.Random
    turn: int  # round-robin counter of the profile
    preference: Preference
    top_n: int
    latency: Mapping[tuple[str, str], LatencyStats]
    providers: Mapping[str, ProviderState]
    prompt_tokens: int
    max_tokens: int | None
    exploration: float = 0.0  # least-latency: share of requests that try the stalest provider first

    def ema_s(self, c: Candidate) -> float | None:
        stats = self.latency.get(c.model_key)
        return None if stats is None else stats.ema

    def inflight(self, c: Candidate) -> int:
        return self.providers[c.provider_key].inflight

    def cost(self, c: Candidate) -> float | None:
        return estimated_costs((c,), self.prompt_tokens, self.max_tokens)[0]


def estimated_costs(candidates: Sequence[Candidate], prompt_tokens: int, max_tokens: int | None) -> list[float | None]:
    """USD estimate per candidate (None without a price); the formula of ``Price.cost``, inlined."""
    wanted = DEFAULT_OUTPUT_TOKENS if max_tokens is None else max_tokens
    return [
        None
        if (price := c.price) is None
        else (
            prompt_tokens * price.input_per_million
            + (wanted if (cap := c.output_cap) is None or wanted <= cap else cap) * price.output_per_million
        )
        / 1e6
        for c in candidates
    ]


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
        return float(candidate.preference_scores[signals.preference])
    return float(candidate.rank)


def weighted_shuffle(candidates: Sequence[Candidate], weights: Sequence[float], rng: random.Random) -> list[Candidate]:
    """Order drawn without replacement, each pick proportional to weight (Efraimidis-Spirakis).

    Zero-weight candidates never go first while a weighted one exists; they
    follow in failover order.
    """
    return _weighted_order(candidates, [1.0 / w if w > 0 else 0.0 for w in weights], rng)


def _weighted_order(candidates: Sequence[Candidate], exponents: Sequence[float], rng: random.Random) -> list[Candidate]:
    """``weighted_shuffle`` given ``1 / weight`` per candidate (0.0 for a zero weight).

    One draw per positive weight, in failover order; the key ``u ** (1/w)``
    ranks descending, ties by descending position (as sorting (key, position)
    pairs in reverse would).
    """
    draw = rng.random
    if 0.0 not in exponents:
        keys = [draw() ** e for e in exponents]
        return [candidates[i] for i in _descending(keys)]
    positive = [i for i, e in enumerate(exponents) if e > 0.0]
    keys = [draw() ** exponents[i] for i in positive]
    head = [candidates[positive[j]] for j in _descending(keys)]
    return head + [c for c, e in zip(candidates, exponents, strict=True) if e == 0.0]


def _descending(keys: Sequence[float]) -> list[int]:
    """Positions by descending key, ties by descending position."""
    return sorted(range(len(keys) - 1, -1, -1), key=keys.__getitem__, reverse=True)


def _by_key(candidates: Sequence[Candidate], keys: Sequence[float]) -> list[Candidate]:
    """Candidates by ascending key, ties in failover order."""
    return [candidates[i] for i in sorted(range(len(keys)), key=keys.__getitem__)]


def _failover(candidates: Sequence[Candidate], signals: Signals) -> list[Candidate]:
    return list(candidates)


def _round_robin(candidates: Sequence[Candidate], signals: Signals) -> list[Candidate]:
    k = signals.turn % len(candidates)
    return [*candidates[k:], *candidates[:k]]


def _weighted(candidates: Sequence[Candidate], signals: Signals) -> list[Candidate]:
    return _weighted_order(candidates, [c.exponent for c in candidates], signals.rng)


def _random(candidates: Sequence[Candidate], signals: Signals) -> list[Candidate]:
    shuffled = list(candidates)
    signals.rng.shuffle(shuffled)
    return shuffled


def _least_latency(candidates: Sequence[Candidate], signals: Signals) -> list[Candidate]:
    """Fastest EMA first; candidates without samples go before all (explored, never starved).

    With probability ``signals.exploration`` the candidate sampled longest ago goes
    first instead, so a provider that was slow once is measured again.
    """
    latency = signals.latency
    emas = [None if (stats := latency.get(c.model_key)) is None else stats.ema for c in candidates]
    if None in emas:
        unknown = [c for c, e in zip(candidates, emas, strict=True) if e is None]
        known = [(c, e) for c, e in zip(candidates, emas, strict=True) if e is not None]
        return unknown + _by_key([c for c, _ in known], [e for _, e in known])
    ranked = _by_key(candidates, emas)  # type: ignore[arg-type]  # no None left
    if signals.exploration and signals.rng.random() < signals.exploration:
        stalest = min(range(1, len(ranked)), key=lambda i: latency[ranked[i].model_key].updated_at)
        ranked.insert(0, ranked.pop(stalest))
    return ranked


def _least_cost(candidates: Sequence[Candidate], signals: Signals) -> list[Candidate]:
    """Cheapest estimate first; candidates without a known price last."""
    costs = estimated_costs(candidates, signals.prompt_tokens, signals.max_tokens)
    return _by_key(candidates, [math.inf if cost is None else cost for cost in costs])


def _least_busy(candidates: Sequence[Candidate], signals: Signals) -> list[Candidate]:
    providers = signals.providers
    return _by_key(candidates, [providers[c.provider_key].inflight for c in candidates])


PREFERENCE_HALVING_POINTS = 2.0
"""preference: each this many score points below the best halve a top-N candidate's chance to go first."""


def _preference(candidates: Sequence[Candidate], signals: Signals) -> list[Candidate]:
    """Rank by preference score, keep the top N, draw the first pick among them favouring higher scores.

    A top-N candidate's share is its weight times ``0.5 ** (points below the best / 2)``:
    equal scores split by weight, a clearly better score wins most first picks.
    """
    preference = signals.preference
    scores = [c.preference_scores[preference] for c in candidates]
    order_ = sorted(range(len(candidates)), key=lambda i: -scores[i])
    ranked = [candidates[i] for i in order_]
    top_n = signals.top_n
    if top_n > 1:
        best = scores[order_[0]]
        draw = signals.rng.random
        keyed = [
            (draw() ** (c.exponent * 2.0 ** ((best - scores[order_[i]]) / PREFERENCE_HALVING_POINTS)), i)
            for i, c in enumerate(ranked[:top_n])
            if c.exponent
        ]
        first = max(keyed)[1] if keyed else 0  # the head of weighted_shuffle: one max, no sort
        if first:
            ranked.insert(0, ranked.pop(first))
    return ranked


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
