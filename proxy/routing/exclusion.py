"""Why a provider is left out of a request's plan: a typed kind, and the text people read.

The kind decides what the client gets when nothing is left: only throttling
kinds (a limit that refills, endpoints that are full) make it a 429; anything
else (open circuit, no ready endpoint...) is a 503. Kinds that hold for every
request (disabled, model not served, outside the matching rule) say nothing
about the moment and are left out of that decision. The text is never parsed.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class ExclusionKind(StrEnum):
    NOT_IN_RULE = "not_in_rule"  # the matching rule lists other providers
    DISABLED = "disabled"  # the provider's config switch
    NO_MODEL = "no_model"  # the provider does not serve the requested model
    CIRCUIT_OPEN = "circuit_open"  # its breaker for this model is open (or probing, slots taken)
    LIMITED = "limited"  # its rate, token or concurrency limit, or an upstream Retry-After
    CONTEXT_WINDOW = "context_window"  # the prompt does not fit this model
    CANNOT_EXPRESS = "cannot_express"  # the provider's API cannot express this request
    # a Service-backed provider's endpoints (the values are ``switchboard.proxy.endpoints.pool.UnavailableKind``)
    SATURATED = "saturated"
    ALL_EJECTED = "all_ejected"
    NO_READY_ENDPOINTS = "no_ready_endpoints"
    NO_ENDPOINTS = "no_endpoints"


THROTTLING: frozenset[ExclusionKind] = frozenset({ExclusionKind.LIMITED, ExclusionKind.SATURATED})
"""Kinds that pass once load drops or a window refills: a 429 when they are all that is left."""
EVERY_REQUEST: frozenset[ExclusionKind] = frozenset(
    {ExclusionKind.NOT_IN_RULE, ExclusionKind.DISABLED, ExclusionKind.NO_MODEL}
)
"""Kinds that do not depend on the moment: they never decide between 429 and 503."""
SPILL: frozenset[ExclusionKind] = frozenset(
    {ExclusionKind.SATURATED, ExclusionKind.ALL_EJECTED, ExclusionKind.NO_READY_ENDPOINTS, ExclusionKind.NO_ENDPOINTS}
)
"""Kinds of a Service-backed provider passed over for its endpoints (the spill-over)."""


@dataclass(frozen=True, slots=True)
class Exclusion:
    kind: ExclusionKind
    reason: str  # for people: explain, error bodies, logs

    def __str__(self) -> str:
        return self.reason


def no_route_status(exclusions: Iterable[Exclusion]) -> int:
    """429 when every provider that could serve at another moment is only throttled, else 503."""
    momentary = [e for e in exclusions if e.kind not in EVERY_REQUEST]
    return 429 if momentary and all(e.kind in THROTTLING for e in momentary) else 503
