"""RoutingProfile: which providers serve which model names, and how to choose."""

from typing import Literal, Self

from pydantic import AwareDatetime, Field, model_validator

from switchboard.api.base import LIST_MAP_BY_NAME, CelRule, Model, cel_rules
from switchboard.api.object_key import object_key
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

    name: str = Field(min_length=1, max_length=253, description="LLMProvider name in the profile's namespace.")
    weight: int | None = Field(None, ge=0, le=1000, description="Overrides the provider's weight.")
    priority: int | None = Field(None, ge=0, description="Lower goes first in failover; default: list order.")
    model: str | None = Field(
        None, min_length=1, description="Provider model (by its public name) to send instead of the requested one."
    )


class LabelSelectorRequirement(Model):
    """One Kubernetes label selector expression."""

    key: str = Field(description="Label key.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(description="How the values apply.")
    values: tuple[str, ...] = Field((), description="Values for In and NotIn.")


class LabelSelector(Model):
    """Kubernetes label selector over the LLMProviders of the profile's namespace."""

    match_labels: dict[str, str] = Field(default_factory=dict, description="Labels that must all be equal.")
    match_expressions: tuple[LabelSelectorRequirement, ...] = Field((), description="Expressions that must all hold.")


class RetryPolicy(Model):
    """Exponential backoff with full jitter on 429, 5xx, timeouts and connection errors."""

    max_retries: int = Field(3, ge=0, le=10, description="Attempts after the first, whatever the mode.")
    backoff_base_ms: int = Field(100, ge=0, le=60000, description="Backoff ceiling of the first retry.")
    backoff_max_ms: int = Field(2000, ge=0, le=600000, description="Largest backoff ceiling.")
    mode: Literal["next-provider", "same-provider"] = Field(
        "next-provider",
        description="next-provider: move down the plan; same-provider: repeat the attempt until its circuit opens.",
    )
    deadline_seconds: float = Field(
        120.0, gt=0, le=3600, description="Whole request budget; no attempt or backoff starts past it."
    )


class RateLimit(Model):
    """Token buckets for the whole fleet: shared through the state store when there is one, else each
    replica enforces its 1/N share."""

    requests_per_minute: int | None = Field(None, ge=1, description="Requests per minute over the fleet.")
    tokens_per_minute: int | None = Field(
        None,
        ge=1,
        description="Tokens per minute over the fleet: estimated prompt tokens; with a state store, prompt plus "
        "max_tokens reserved, then the real usage.",
    )


class Budget(Model):
    """Dollar spend over calendar windows (UTC), shared across the fleet through the state store."""

    period: Literal["day", "month"] = Field("month", description="Window the amount applies to (UTC calendar).")
    limit_usd: float = Field(gt=0, description="Hard limit: past it, 429 budget_exceeded until the window resets.")
    soft_percent: float = Field(80.0, gt=0, le=100, description="Soft threshold in percent of limitUsd.")
    soft_action: Literal["downgrade", "notify"] = Field(
        "notify",
        description="Past the soft threshold: downgrade serves the cheapest providers first; notify only warns.",
    )


class SessionAffinity(Model):
    """Keep a session on the provider that served it while that provider stays eligible."""

    enabled: bool = Field(False, description="Turn session affinity on.")
    header: str = Field("x-session-id", description="Request header carrying the session key.")
    use_user_field: bool = Field(True, description="Without the header, use the body's `user` field.")
    prompt_prefix: bool = Field(
        False,
        description="Without header or user: key sessions by a hash of the system prompt and first messages, "
        "so long shared prefixes keep hitting one provider's prompt cache.",
    )
    max_sessions: int = Field(
        10000, ge=1, le=10_000_000, description="Sessions remembered per replica; least recently used evicted."
    )
    ttl_seconds: float = Field(3600.0, gt=0, description="A session is forgotten this long after its last request.")


class LatencySettings(Model):
    """How latency is learned (per provider: from the first profile that lists it)."""

    ema_alpha: float = Field(0.3, gt=0, le=1, description="Weight of the newest sample in the moving average.")
    window_size: int = Field(200, ge=10, le=100000, description="Recent samples kept for percentiles.")
    decay_half_life_seconds: float = Field(
        60.0,
        gt=0,
        le=86400,
        description="Age at which the moving average counts half as much against a new sample: stale latency fades.",
    )
    exploration_share: float = Field(
        0.05,
        ge=0,
        le=0.5,
        description=(
            "least-latency: share of requests sent first to the provider sampled longest ago, so one that became "
            "fast is found again; 0 = never explore."
        ),
    )


class TracingPolicy(Model):
    """What this profile's trace spans may record beyond models, providers, tokens, cost and timings."""

    capture_content: bool = Field(
        False,
        description=(
            "Record prompts and completions on spans (`gen_ai.input.messages`, `gen_ai.output.messages`)."
            " Off by default: they may hold personal or secret data."
        ),
    )


class RuleMatch(Model):
    """All set conditions must hold; an empty match matches everything."""

    models: tuple[str, ...] = Field((), description="Requested model is any of these globs (`gpt-4*`).")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Request headers equal to these values (names case-insensitive)."
    )
    metadata: dict[str, str] = Field(
        default_factory=dict, description="String entries of the body's `metadata` equal to these."
    )
    min_prompt_tokens: int | None = Field(None, ge=0, description="Estimated prompt tokens at least this.")
    max_prompt_tokens: int | None = Field(None, ge=0, description="Estimated prompt tokens at most this.")
    stream: bool | None = Field(None, description="Request is (true) or is not (false) streaming.")


class Rule(Model):
    """First matching rule (by ascending priority) decides how to route."""

    model_config = cel_rules(
        ("!has(self.strategy) || self.strategy != 'rules'", "a rule cannot select the rules strategy")
    )

    name: str = Field(min_length=1, description="Unique within the profile; shown in x-switchboard-strategy.")
    priority: int = Field(100, ge=0, description="Lower is checked first; ties keep list order.")
    match: RuleMatch = Field(RuleMatch(), description="Conditions; empty matches every request.")
    strategy: Strategy | None = Field(
        None, description="Strategy to use; unset: preference if preference is set, else failover."
    )
    preference: Preference | None = Field(None, description="Preference to use; unset: the profile's.")
    providers: tuple[str, ...] = Field((), description="Only these provider names; empty: all of the profile.")

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
    strategy: Strategy = Field("failover", description="How providers are ordered for each request.")
    preference: Preference = Field("balanced", description="What the preference strategy optimises for.")
    top_n: int = Field(
        3, ge=1, le=100, description="preference: the first pick is drawn by weight among the N best scores."
    )
    rules: tuple[Rule, ...] = Field(
        (), json_schema_extra=LIST_MAP_BY_NAME, description="For strategy rules: first match decides; names unique."
    )
    default_rule: Rule | None = Field(None, description="For strategy rules: used when no rule matches.")
    retry: RetryPolicy = Field(RetryPolicy(), description="Retries, backoff and the request deadline.")
    fallback_models: tuple[str, ...] = Field((), description="Tried in order once every provider of the model failed.")
    timeouts: Timeouts | None = Field(None, description="Replaces every provider's timeouts for this profile.")
    rate_limit: RateLimit = Field(RateLimit(), description="Limits on the profile's own traffic (429 when over).")
    budget: Budget | None = Field(None, description="Dollar budget of the profile's spend (soft and hard limits).")
    allow_client_routing: bool = Field(False, description="Honour X-Routing-* and X-Provider-Hint headers.")
    session_affinity: SessionAffinity = Field(SessionAffinity(), description="Sticky sessions.")
    latency: LatencySettings = Field(LatencySettings(), description="Latency learning for least-latency.")
    tracing: TracingPolicy = Field(TracingPolicy(), description="OpenTelemetry spans of this profile's requests.")

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

    providers: tuple[ProviderRef, ...] = Field((), description="Providers in failover order (see priority).")
    provider_selector: LabelSelector | None = Field(
        None, description="Also every LLMProvider of the namespace matching these labels, after `providers`."
    )

    @model_validator(mode="after")
    def _some_providers(self) -> Self:
        if not self.providers and self.provider_selector is None:
            raise ValueError("set providers or providerSelector")
        return self


class ProfileConfig(ProfileCore):
    """A profile as the proxy loads it: providers resolved to an explicit list."""

    name: str = Field(min_length=1, max_length=253, description="Profile name (the RoutingProfile's).")
    namespace: str | None = Field(None, description="Namespace of the profile and its providers (operator sets it).")
    creation_timestamp: AwareDatetime | None = Field(
        None,
        description="The RoutingProfile's creationTimestamp (operator sets it): the oldest profile wins a model "
        "name that several profiles serve, then namespace/name (docs/tenancy.md).",
    )
    providers: tuple[ProviderRef, ...] = Field(min_length=1, description="Providers in failover order (see priority).")

    @property
    def key(self) -> str:
        return object_key(self.namespace, self.name)

    def provider_key(self, ref: ProviderRef) -> str:
        """The key of a provider this profile lists (providers live in the profile's namespace)."""
        return object_key(self.namespace, ref.name)
