"""Which profile serves a model name that several profiles claim.

The rule is Gateway API's for conflicting routes, so it is stable across
replicas, restarts and the order anything was listed or watched in:

1. the profile created first (oldest ``creationTimestamp``) wins;
2. on equal timestamps (or none, e.g. a standalone config file), the first
   ``namespace/name`` in alphabetical order wins; a profile without a timestamp
   ranks after every profile that has one.

The proxy's route index (:func:`claims`) and the operator's status
(``switchboard.operator.conflicts``) both rank with :func:`rank`, so they
always agree on the winner. With client auth on, the proxy applies the
rule among the profiles the caller's key may use only (docs/tenancy.md).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from switchboard.api.profile import ProfileConfig
from switchboard.api.timestamps import rfc3339

Rank = tuple[bool, datetime, str, str]
_UNSET = datetime.min.replace(tzinfo=UTC)  # stands in for a missing timestamp, after the "is None" flag


class Ranked(Protocol):
    """What the rule reads of a profile: the proxy's ``ProfileConfig``, the operator's index entry."""

    @property
    def name(self) -> str: ...
    @property
    def namespace(self) -> str | None: ...
    @property
    def creation_timestamp(self) -> datetime | None: ...
    @property
    def key(self) -> str: ...


def rank(profile: Ranked) -> Rank:
    """Sort key: smaller wins. Missing timestamps sort after present ones."""
    created = profile.creation_timestamp
    return (created is None, created or _UNSET, profile.namespace or "", profile.name)


def ordered(profiles: Iterable[ProfileConfig]) -> list[ProfileConfig]:
    """``profiles`` from winner to last by the rule."""
    return sorted(profiles, key=rank)


@dataclass(frozen=True, slots=True)
class Claim:
    """Everyone that serves one model name, winner first."""

    model: str
    profiles: tuple[ProfileConfig, ...]

    @property
    def winner(self) -> ProfileConfig:
        return self.profiles[0]

    @property
    def shadowed(self) -> tuple[ProfileConfig, ...]:
        return self.profiles[1:]


def claims(profiles: Iterable[ProfileConfig]) -> Mapping[str, Claim]:
    """Per model name served by ``models``: its claimants in rule order (fallback models do not claim)."""
    by_model: dict[str, list[ProfileConfig]] = {}
    for profile in ordered(profiles):
        for model in dict.fromkeys(profile.models):
            by_model.setdefault(model, []).append(profile)
    return {model: Claim(model, tuple(group)) for model, group in by_model.items()}


def why_shadowed(winner: Ranked, loser: Ranked) -> str:
    """Why ``loser`` does not serve a model ``winner`` also serves, in words for status and explain."""
    if winner.creation_timestamp != loser.creation_timestamp:
        if loser.creation_timestamp is None:
            return f"{winner.key} has a creationTimestamp and this profile has none"
        return f"{winner.key} is older (created {_when(winner)}, this profile {_when(loser)})"
    return f"{winner.key} is as old and sorts first by namespace/name"


def _when(profile: Ranked) -> str:
    created = profile.creation_timestamp
    return rfc3339(created) if created is not None else "unknown"
