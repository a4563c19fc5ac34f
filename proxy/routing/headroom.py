"""Upstream rate-limit headers: how much of its own quota a provider says it has left.

OpenAI (and Azure, and many compatible servers) send ``x-ratelimit-remaining-*``
with ``x-ratelimit-limit-*``; Anthropic sends ``anthropic-ratelimit-*-remaining``
with ``-limit``. A provider close to its quota is moved down the plan before it
starts answering 429 (``demote_strained``), without excluding it.
"""

from collections.abc import Mapping, Sequence
from typing import Protocol, TypeVar

from multidict import istr

LOW_HEADROOM = 0.1
"""Below this share of its quota left, a provider goes after the others."""
HEADROOM_TTL_S = 60.0
"""A reading older than this says nothing (quotas refill within a minute)."""

_PAIRS = tuple(
    (istr(remaining), istr(limit))  # case-folded once here, not on every lookup of an answer's headers
    for remaining, limit in (
        ("x-ratelimit-remaining-requests", "x-ratelimit-limit-requests"),
        ("x-ratelimit-remaining-tokens", "x-ratelimit-limit-tokens"),
        ("anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-requests-limit"),
        ("anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-limit"),
        ("anthropic-ratelimit-input-tokens-remaining", "anthropic-ratelimit-input-tokens-limit"),
        ("anthropic-ratelimit-output-tokens-remaining", "anthropic-ratelimit-output-tokens-limit"),
    )
)


def upstream_headroom(headers: Mapping[str, str]) -> float | None:
    """The smallest remaining/limit share the headers report (0..1), or None when they report none.

    Read on every answer: a pair whose remaining count is absent (most answers carry none at all)
    costs one lookup.
    """
    low: float | None = None
    for remaining_name, limit_name in _PAIRS:
        remaining = headers.get(remaining_name)
        if remaining is None:
            continue
        share = _share(remaining, headers.get(limit_name))
        if share is not None and (low is None or share < low):
            low = share
    return low


def _share(remaining_text: str, limit_text: str | None) -> float | None:
    """remaining/limit within 0..1, or None when either is not a number or the limit is not positive."""
    remaining, limit = _number(remaining_text), _number(limit_text)
    if remaining is None or limit is None or limit <= 0:
        return None
    return min(1.0, max(0.0, remaining / limit))


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if number == number and number >= 0 else None  # NaN and negatives say nothing


class Keyed(Protocol):
    @property
    def provider_key(self) -> str: ...


C = TypeVar("C", bound=Keyed)


def demote_strained(ordered: Sequence[C], strained: Mapping[str, float], now: float) -> list[C]:
    """``ordered`` with providers low on upstream quota (read in the last minute) after the others.

    ``strained``: provider key -> when its low reading was taken. Order is kept
    within each group, and nothing moves when every candidate is strained.
    """
    low = {key for key, at in strained.items() if now - at <= HEADROOM_TTL_S}
    fine = [c for c in ordered if c.provider_key not in low]
    if not low or not fine or len(fine) == len(ordered):
        return list(ordered)
    return fine + [c for c in ordered if c.provider_key in low]
