"""What a render implies for its RoutingProfile, before any clock or API call:
the conditions, the Events and the operator-owned status fields.

The renderer returns these with the ConfigMap (so the golden files show each
profile's status next to its config, as Envoy Gateway's do); the kopf shell
only stamps times on the conditions, posts the Events and merge-patches status.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

READY, RESOLVED_REFS, RENDERED, ACCEPTED = "Ready", "ResolvedRefs", "Rendered", "Accepted"
CONFIG_STATUS_FIELDS = ("configHash", "configMap", "providerCount")  # set only by a render that was applied

Status = Literal["True", "False", "Unknown"]
EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True)
class Problem:
    """Why a profile cannot be rendered. ``reason`` is a condition/event reason."""

    reason: str
    message: str


@dataclass(frozen=True)
class Verdict:
    """One condition before timestamps: the decision, free of clocks."""

    type: str
    status: Status
    reason: str
    message: str = ""


@dataclass(frozen=True)
class Notice:
    """One Event the verdicts imply (posted rate-limited by the shell)."""

    type: EventType
    reason: str
    message: str


@dataclass(frozen=True)
class ProfileVerdicts:
    """A RoutingProfile's conditions, Events and status fields (besides ``conditions``)."""

    conditions: tuple[Verdict, ...]
    events: tuple[Notice, ...] = ()
    status: Mapping[str, Any] = field(default_factory=dict)

    def condition(self, type_: str) -> Verdict | None:
        return next((v for v in self.conditions if v.type == type_), None)

    def apply_failed(self, problem: Problem) -> "ProfileVerdicts":
        """The same verdicts once writing the ConfigMap failed: not Ready, not Rendered, no new hash."""
        failed = {READY: Verdict(READY, "False", problem.reason, problem.message)}
        failed[RENDERED] = Verdict(RENDERED, "False", problem.reason, problem.message)
        conditions = tuple(failed.get(v.type, v) for v in self.conditions)
        status = {k: v for k, v in self.status.items() if k not in CONFIG_STATUS_FIELDS}
        events = (*self.events, Notice("Warning", problem.reason, problem.message))
        return replace(self, conditions=conditions, events=events, status=status)
