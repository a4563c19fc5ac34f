"""RoutingProfile: which providers serve which model names, and how to choose."""

from typing import Literal, Self

from pydantic import Field, model_validator

from switchboard.api.base import LIST_MAP_BY_NAME, CelRule, Model, cel_rules
from switchboard.api.provider import Timeouts

Strategy = Literal[
    "failover",
    "round-robin",
    "weighted",
    "random",
    "least-latency",
    "least-cost",
    "least-busy",
    "preference",
    "rules",
]
Preference = Literal["cost", "speed", "quality", "balanced"]


class ProviderRef(Model):
    """A provider used by a profile, with per-profile overrides."""

    name: str = Field(min_length=1, max_length=253)
    weight: int | None = Field(None, ge=0, le=1000, description="Overrides the provider's weight.")
    priority: int | None = Field(None, ge=0, description="Lower goes first in failover; default: list order.")
    model: str | None = Field(
        None, min_length=1, description="Provider model (by its public name) to send instead of the requested one."
    )


class LabelSelectorRequirement(Model):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: tuple[str, ...] = ()


class LabelSelector(Model):
    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: tuple[LabelSelectorRequirement, ...] = ()


class RetryPolicy(Model):
    """Exponential backoff with full jitter on 429, 5xx, timeouts and connection errors."""

    max_retries: int = Field(3, ge=0, le=10)
    backoff_base_ms: int = Field(100, ge=0, le=60000)
    backoff_max_ms: int = Field(2000, ge=0, le=600000)
    mode: Literal["next-provider", "same-provider"] = "next-provider"
    deadline_seconds: float = Field(120.0, gt=0, le=3600)


class RateLimit(Model):
    """Token buckets for the whole fleet; each replica enforces its share."""

    requests_per_minute: int | None = Field(None, ge=1)
    tokens_per_minute: int | None = Field(None, ge=1)


class SessionAffinity(Model):
    enabled: bool = False
    header: str = "x-session-id"
    use_user_field: bool = True
    max_sessions: int = Field(10000, ge=1, le=10_000_000)
    ttl_seconds: float = Field(3600.0, gt=0)


class LatencySettings(Model):
    ema_alpha: float = Field(0.3, gt=0, le=1)
    window_size: int = Field(200, ge=10, le=100000)


class RuleMatch(Model):
    """All set conditions must hold; an empty match matches everything."""

    models: tuple[str, ...] = ()
    headers: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, str] = Field(default_factory=dict)
    min_prompt_tokens: int | None = Field(None, ge=0)
    max_prompt_tokens: int | None = Field(None, ge=0)
    stream: bool | None = None


class Rule(Model):
    """First matching rule (by ascending priority) decides how to route."""

    model_config = cel_rules(
        ("!has(self.strategy) || self.strategy != 'rules'", "a rule cannot select the rules strategy")
    )

    name: str = Field(min_length=1)
    priority: int = Field(100, ge=0)
    match: RuleMatch = RuleMatch()
    strategy: Strategy | None = None
    preference: Preference | None = None
    providers: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _no_recursion(self) -> Self:
        if self.strategy == "rules":
            raise ValueError("a rule cannot select the rules strategy")
        return self


PROFILE_CEL_RULES: tuple[CelRule, ...] = (
    (
        "!has(self.strategy) || self.strategy != 'rules'"
        " || (has(self.rules) && size(self.rules) > 0) || has(self.defaultRule)",
        "strategy rules needs rules or defaultRule",
    ),
)
"""CEL twin of ``ProfileCore._check_rules``; unique rule names are enforced by
the CRD as a list map keyed by ``name``."""


class ProfileCore(Model):
    """Fields shared by the CRD spec and the rendered config."""

    model_config = cel_rules(*PROFILE_CEL_RULES)

    models: tuple[str, ...] = Field(min_length=1, description="Public model names this profile serves.")
    strategy: Strategy = "failover"
    preference: Preference = "balanced"
    top_n: int = Field(3, ge=1, le=100)
    rules: tuple[Rule, ...] = Field((), json_schema_extra=LIST_MAP_BY_NAME)
    default_rule: Rule | None = None
    retry: RetryPolicy = RetryPolicy()
    fallback_models: tuple[str, ...] = Field((), description="Tried in order once every provider of the model failed.")
    timeouts: Timeouts | None = None
    rate_limit: RateLimit = RateLimit()
    allow_client_routing: bool = Field(False, description="Honour X-Routing-* and X-Provider-Hint headers.")
    session_affinity: SessionAffinity = SessionAffinity()
    latency: LatencySettings = LatencySettings()

    @model_validator(mode="after")
    def _check_rules(self) -> Self:
        if self.strategy == "rules" and not self.rules and self.default_rule is None:
            raise ValueError("strategy rules needs rules or defaultRule")
        names = [r.name for r in self.rules]
        if len(names) != len(set(names)):
            raise ValueError("rules[].name must be unique")
        return self


class RoutingProfileSpec(ProfileCore):
    """``spec`` of the RoutingProfile custom resource."""

    model_config = cel_rules(
        *PROFILE_CEL_RULES,
        (
            "(has(self.providers) && size(self.providers) > 0) || has(self.providerSelector)",
            "set providers or providerSelector",
        ),
    )

    providers: tuple[ProviderRef, ...] = ()
    provider_selector: LabelSelector | None = None

    @model_validator(mode="after")
    def _some_providers(self) -> Self:
        if not self.providers and self.provider_selector is None:
            raise ValueError("set providers or providerSelector")
        return self


class ProfileConfig(ProfileCore):
    """A profile as the proxy loads it: providers resolved to an explicit list."""

    name: str = Field(min_length=1, max_length=253)
    namespace: str | None = None
    providers: tuple[ProviderRef, ...] = Field(min_length=1)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name
