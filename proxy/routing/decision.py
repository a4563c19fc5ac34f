"""Result types the Router returns besides the contract's Plan."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from switchboard.proxy.routing.exclusion import Exclusion


@dataclass(frozen=True, slots=True)
class RankedCandidate:
    """One provider in ``explain`` order; ``score`` is what the strategy ranks by."""

    provider: str
    model: str  # provider model sent upstream (public name)
    score: float | None


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a request would go where it goes; computed without side effects."""

    profile: str
    strategy: str
    rule: str | None
    ranked: tuple[RankedCandidate, ...]
    excluded: Mapping[str, Exclusion]  # provider key -> why not (JSON: the reason text)
    fallbacks: tuple[RankedCandidate, ...] = ()
    blocked: str | None = None  # why plan() would refuse (profile rate limit, nothing eligible)
    spilled: Mapping[str, str] = field(default_factory=dict)  # provider key -> spill reason (saturated, ...)
    passed_over: Mapping[str, str] = field(default_factory=dict)  # other profiles serving the model -> why not


@dataclass(frozen=True, slots=True)
class CostEstimate:
    provider: str
    model: str  # the provider model actually sent upstream
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None  # None when no price is known
