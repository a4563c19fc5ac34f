"""Profiles that claim the same model name, as the operator reports them (pure).

The winner is chosen by ``switchboard.api.precedence`` (the rule every proxy
replica applies), among the profiles that have a rendered ConfigMap: a profile
that never rendered serves nothing, so it shadows nothing either. Losers get
``Accepted=False`` (reason ``ModelConflict``) and a Warning Event naming the
winner; the winner lists in ``status.shadows`` what it takes the model from.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from switchboard.api.object_key import object_key
from switchboard.api.precedence import rank, why_shadowed
from switchboard.api.timestamps import parse_time
from switchboard.operator.verdicts import ACCEPTED, Notice, Verdict

CONFLICT_REASON = "ModelConflict"
REACHED_ANYWAY = (
    "requests for that model still reach this profile when they name it in x-routing-profile (the profile "
    "must set allowClientRouting) or, with client auth on, when their key may use this profile and no profile "
    "ranked before it (docs/tenancy.md)"
)


@dataclass(frozen=True, slots=True)
class Claimant:
    """What the conflict rule needs of one RoutingProfile (from the operator's profile index)."""

    namespace: str
    name: str
    creation_timestamp: datetime | None
    models: tuple[str, ...]
    serving: bool  # it has a rendered ConfigMap (status.configHash): the proxies route to it

    @property
    def key(self) -> str:
        return object_key(self.namespace, self.name)


def claimant(body: Mapping[str, Any]) -> Claimant:
    """A profile's claim from its body; only well-formed model names count."""
    meta = body.get("metadata") or {}
    models = (body.get("spec") or {}).get("models")
    names = tuple(dict.fromkeys(m for m in models if isinstance(m, str))) if isinstance(models, list) else ()
    serving = bool((body.get("status") or {}).get("configHash"))
    created = _timestamp(meta.get("creationTimestamp"))
    return Claimant(str(meta.get("namespace", "")), str(meta.get("name", "")), created, names, serving)


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    return parse_time(str(value)) if value else None


@dataclass(frozen=True)
class Conflicts:
    """One profile's standing: the models it loses (with their winner) and the profiles it shadows."""

    lost: tuple[tuple[str, Claimant], ...]  # (model, winner)
    shadows: tuple[tuple[str, Claimant], ...]  # (model, shadowed profile), by model then rule order

    def status(self) -> list[dict[str, str]]:
        return [{"model": model, "profile": other.key} for model, other in self.shadows]


def conflicts(me: Claimant, others: Iterable[Claimant], *, serving: bool) -> Conflicts:
    """``me``'s conflicts with the serving ``others``; ``serving``: whether ``me`` itself is served."""
    rivals = [o for o in others if o.serving and o.key != me.key]
    mine = rank(me)
    lost: list[tuple[str, Claimant]] = []
    shadows: list[tuple[str, Claimant]] = []
    for model in me.models:
        claiming = sorted((r for r in rivals if model in r.models), key=rank)
        if claiming and rank(claiming[0]) < mine:
            lost.append((model, claiming[0]))
        elif serving:
            shadows.extend((model, r) for r in claiming)
    return Conflicts(tuple(lost), tuple(shadows))


def to_revisit(before: Claimant | None, after: Claimant | None, current: Iterable[Claimant]) -> list[Claimant]:
    """The ``current`` claimants whose verdicts one profile's claim change (``before`` -> ``after``,
    None: absent) can change: per model either claim holds, all of them when its winner changes
    (every loser names the winner), else only the winner (its ``shadows``)."""
    changed = after or before
    if changed is None:
        return []
    others = [c for c in current if c.key != changed.key]
    out: dict[str, Claimant] = {}
    for model in dict.fromkeys((*(before.models if before else ()), *(after.models if after else ()))):
        claiming = [c for c in others if model in c.models]
        old, new = _winner(model, claiming, before), _winner(model, claiming, after)
        out |= {c.key: c for c in claiming if old != new or c.key == new}
    return [out[key] for key in sorted(out)]


def _winner(model: str, claiming: list[Claimant], extra: Claimant | None) -> str | None:
    serving = [c for c in (*claiming, *((extra,) if extra else ())) if c.serving and model in c.models]
    return min(serving, key=rank).key if serving else None


def accepted(me: Claimant, found: Conflicts) -> tuple[Verdict, tuple[Notice, ...]]:
    """The ``Accepted`` condition, and the Warning Event of a profile that loses a model."""
    if not found.lost:
        shadowing = sorted({other.key for _, other in found.shadows})
        message = f"serves model(s) {', '.join(me.models)}"
        if shadowing:
            message += f"; takes precedence over {', '.join(shadowing)} (status.shadows)"
        return Verdict(ACCEPTED, "True", "Accepted", message), ()
    lost = "; ".join(f"model {model} is served by {w.key}: {why_shadowed(w, me)}" for model, w in found.lost)
    kept = [m for m in me.models if m not in {model for model, _ in found.lost}]
    still = f"; this profile still serves {', '.join(kept)}" if kept else ""
    message = f"{lost}{still}; {REACHED_ANYWAY}"
    return Verdict(ACCEPTED, "False", CONFLICT_REASON, message), (Notice("Warning", CONFLICT_REASON, message),)
