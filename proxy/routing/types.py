"""The contract between the pure routing engine and the proxy's HTTP shell.

The shell builds a RouteRequest, asks the router for a Plan, tries the plan's
attempts in order (sleeping as the engine says between retries), and reports
each attempt's Outcome back so breakers, limits and latency stats learn.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, NamedTuple

from switchboard.api.profile import ProfileConfig
from switchboard.api.provider import ProviderConfig, ProviderModel, Timeouts
from switchboard.proxy.routing.exclusion import Exclusion
from switchboard.proxy.routing.pricing import Price

Endpoint = Literal["chat", "embeddings"]


def no_prefix() -> None:
    """The prefix digest of a request that has no chat prompt."""
    return None


NO_ENTRIES: Mapping[str, str] = MappingProxyType({})


class RouteRequest(NamedTuple):
    """What the engine may look at: never the prompt itself, only its size.

    A NamedTuple rather than a frozen dataclass: one is built per request, and a frozen
    dataclass sets each of its ten fields through ``object.__setattr__`` (about 3x the cost).
    """

    model: str
    endpoint: Endpoint = "chat"
    stream: bool = False
    prompt_tokens: int = 0
    max_tokens: int | None = None
    user: str | None = None
    headers: Mapping[str, str] = NO_ENTRIES  # lower-case names
    metadata: Mapping[str, str] = NO_ENTRIES
    prefix_hash: Callable[[], str | None] = no_prefix
    """Digest of the prompt's first messages (prompt-prefix affinity): computed only when a profile asks for it."""
    may_use: Callable[[str], bool] | None = None  # client auth: which profile keys the caller's key may use


@dataclass(frozen=True, slots=True)
class Attempt:
    """One upstream call to make: which provider, which of its models.

    Built with the config's routes (not per request), so its price and ``key`` are worked out once here.
    """

    provider: ProviderConfig
    model: ProviderModel
    profile: ProfileConfig
    timeouts: Timeouts
    price: Price | None
    """The served model's price (its own, else the shipped table's; None: unknown), what its answers cost."""
    key: tuple[str, str] = field(init=False, compare=False, repr=False)
    """(provider key, model name): what the learned state (breakers, latency) of this call is keyed by."""
    profile_key: str = field(init=False, compare=False, repr=False)
    total_seconds: float = field(init=False, compare=False, repr=False)
    first_byte_seconds: float = field(init=False, compare=False, repr=False)
    """``profile.key`` and ``timeouts``' two limits, copied: every attempt reads them, and a pydantic model's
    attribute is a slow look-up (its class defines ``__getattr__``, so Python cannot specialise the access)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.provider.key, self.model.name))
        object.__setattr__(self, "profile_key", self.profile.key)
        object.__setattr__(self, "total_seconds", self.timeouts.total_seconds)
        object.__setattr__(self, "first_byte_seconds", self.timeouts.first_byte_seconds)


@dataclass(frozen=True, slots=True)
class Plan:
    profile: ProfileConfig
    strategy: str
    attempts: tuple[Attempt, ...]
    excluded: Mapping[str, Exclusion] = field(default_factory=dict)  # provider key -> why not
    spilled: tuple[tuple[str, str], ...] = ()  # (provider key, why) of Service-backed providers passed over


OutcomeKind = Literal[
    # the upstream served the attempt
    "success",
    # the upstream failed: these feed breakers, error rates and upstream error metrics
    "rate_limited",
    "server_error",
    "timeout",
    "connection_error",
    # the client's side: the upstream refused its request, the provider cannot express it, or it went away
    "client_error",
    "unsupported",
    "client_gone",
    # the proxy's side: cancelled (shutdown) or a bug
    "cancelled",
    "internal_error",
]
Party = Literal["nobody", "upstream", "client", "proxy"]
UPSTREAM_FAILURE_KINDS: frozenset[OutcomeKind] = frozenset(
    {"rate_limited", "server_error", "timeout", "connection_error"}
)
_CLIENT_KINDS: frozenset[OutcomeKind] = frozenset({"client_error", "unsupported", "client_gone"})


class Outcome(NamedTuple):
    """How one attempt ended (a NamedTuple, like ``RouteRequest``: one is built per attempt)."""

    kind: OutcomeKind
    latency_s: float
    status: int | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retry_after_s: float | None = None
    headroom: float | None = None  # share of its own quota the upstream says is left (rate-limit headers)

    @property
    def retryable(self) -> bool:
        return self.kind in UPSTREAM_FAILURE_KINDS

    @property
    def party(self) -> Party:
        """Who failed: only ``upstream`` outcomes count against the provider."""
        if self.kind == "success":
            return "nobody"
        if self.kind in UPSTREAM_FAILURE_KINDS:
            return "upstream"
        return "client" if self.kind in _CLIENT_KINDS else "proxy"


class NoRoute(Exception):
    """No provider can take the request; ``status`` is what the client gets.

    404 for a model no profile serves; 429 or 503 as the exclusions' kinds decide
    (``switchboard.proxy.routing.exclusion.no_route_status``).
    ``retry_after_s``: for 429/503, the engine's estimate of when a candidate
    can take the request again (a bucket refills, a circuit half-opens, an
    upstream Retry-After ends), at least one second; None when it cannot tell.
    """

    def __init__(
        self,
        status: int,
        message: str,
        excluded: Mapping[str, Exclusion] | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.excluded = dict(excluded or {})
        self.retry_after_s = retry_after_s
