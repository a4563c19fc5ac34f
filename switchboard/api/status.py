"""Status of both custom resources, and the rendered-ConfigMap conventions.

Two writers share each status, on disjoint fields: the operator owns
``observedGeneration``, ``conditions`` and (for profiles) ``configHash``,
``configMap``, ``providerCount`` and ``shadows``; proxy replicas own ``replicas``, ``summary``,
``inSyncReplicas`` and ``budget``. Both use merge patches on the status subresource.
"""

from collections.abc import Iterable
from typing import Literal

from pydantic import Field

from switchboard.api.base import Model

# Rendered ConfigMap conventions (the operator writes them into the release namespace only,
# where tenants cannot write; proxies watch that one namespace). See docs/security.md.
RENDERED_LABEL = "switchboard.dev/rendered-config"  # value "true"
NAMESPACE_LABEL = "switchboard.dev/namespace"  # value: the namespace of the RoutingProfile (and of every object inside)
PROFILE_LABEL = "switchboard.dev/profile"  # value: the RoutingProfile's name (shortened to fit a label)
PROFILE_ANNOTATION = "switchboard.dev/profile"  # value: "<namespace>/<name>" of the RoutingProfile, never shortened
PROFILE_UID_ANNOTATION = "switchboard.dev/profile-uid"  # value: metadata.uid of that RoutingProfile
CONFIG_HASH_ANNOTATION = "switchboard.dev/config-hash"  # sha256 hex of the data
CONFIG_DATA_KEY = "config.yaml"  # a ProxyConfig with one profile and its providers
CREDENTIALS_SECRET = "switchboard-credentials"  # in the release namespace; keys from ``credential_key``


def credential_key(namespace: str, provider: str) -> str:
    """Key of one LLMProvider's API key inside the credentials Secret.

    Unambiguous because namespaces (DNS labels) never contain a dot.
    """
    return f"{namespace}.{provider}"


CircuitState = Literal["closed", "open", "half-open"]
_CIRCUIT_SEVERITY: dict[CircuitState, int] = {"closed": 0, "half-open": 1, "open": 2}


def worst_circuit(states: Iterable[CircuitState]) -> CircuitState:
    """The most severe circuit state: open > half-open > closed ("closed" when there is none).

    One rule for both aggregations: a provider's circuit over its per-model
    circuits (each replica, ``provider_health``) and the summary's circuit over
    the replicas' entries (``switchboard.api.aggregation``). "half-open" means
    "probing after the open period", so it never stands for "some models open,
    others closed": a provider with one open model reads as open.
    """
    return max(states, key=_CIRCUIT_SEVERITY.__getitem__, default="closed")


class Condition(Model):
    """A Kubernetes-style condition written by the operator."""

    type: str = Field(description="Ready, ResolvedRefs, Rendered or (profiles) Accepted.")
    status: Literal["True", "False", "Unknown"] = Field(description="Whether the condition holds.")
    reason: str = Field(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$", description="CamelCase cause.")
    message: str = Field("", description="Human-readable detail.")
    observed_generation: int | None = Field(None, description="metadata.generation this condition is about.")
    last_transition_time: str = Field(description="RFC 3339 time the status last changed.")


class EndpointHealth(Model):
    """One endpoint of a Service-backed provider, as one replica sees it."""

    address: str = Field(description="`ip:port` the replica calls.")
    state: Literal["ready", "not-ready", "terminating", "ejected", "full"] = Field(
        description="ready; not-ready or terminating (EndpointSlice); ejected (its breaker); full (saturated)."
    )


class ProviderHealth(Model):
    """What one replica sees of one provider (all its models together)."""

    circuit: CircuitState = Field(
        "closed",
        description="The most severe of its models' circuits (in the summary: of the live replicas' circuits): "
        "open if any is open, else half-open if any is half-open, else closed.",
    )
    ema_ms: float | None = Field(None, description="Moving average latency of successful calls.")
    p50_ms: float | None = Field(None, description="Median latency over the recent window.")
    p95_ms: float | None = Field(None, description="95th percentile latency over the recent window.")
    error_rate: float = Field(0.0, ge=0, le=1, description="Failed share of calls in the last minute.")
    requests_per_minute: float = Field(0.0, ge=0, description="Calls in the last minute.")
    last_error: str | None = Field(None, description="Latest failure, e.g. `server error (HTTP 503)`.")
    endpoints: str | None = Field(
        None, description="Service-backed providers: `ready/total` endpoints (ready excludes ejected ones)."
    )
    endpoint_states: tuple[EndpointHealth, ...] | None = Field(
        None, description="Service-backed providers: each endpoint."
    )


class ReplicaProviderHealth(ProviderHealth):
    """One proxy replica's view of the provider."""

    replica: str = Field(description="Pod name of the replica.")
    updated_at: str = Field(description="RFC 3339 time of the replica's last write.")


class LLMProviderStatus(Model):
    """Operator: observedGeneration, conditions. Proxy replicas: summary, replicas."""

    observed_generation: int | None = Field(None, description="Generation the operator last processed.")
    conditions: tuple[Condition, ...] = Field((), description="Ready, ResolvedRefs, Rendered.")
    summary: ProviderHealth | None = Field(
        None, description="Aggregate over live replicas (worst circuit, mean p50, max p95, summed rate)."
    )  # aggregate over live replicas: printer columns
    replicas: tuple[ReplicaProviderHealth, ...] = Field((), description="One entry per live proxy replica.")


class ReplicaSpend(Model):
    """The profile's spend in the current budget window as one replica last read it."""

    window: str = Field(description="Budget window: `d20261130` (day) or `m202611` (month), UTC.")
    spent_usd: float = Field(ge=0, description="USD spent in the window.")
    shared: bool = Field(
        description="true: read from the state store (the whole fleet's spend); false: this replica's own record."
    )


class ReplicaSync(Model):
    """Which config one proxy replica serves."""

    replica: str = Field(description="Pod name of the replica.")
    config_hash: str = Field(description="Hash of the rendered config the replica serves.")
    updated_at: str = Field(description="RFC 3339 time of the replica's last write.")
    spend: ReplicaSpend | None = Field(None, description="Profiles with a budget: the spend this replica read.")


class BudgetStatus(Model):
    """The profile's budget in its current window, over the whole fleet."""

    period: Literal["day", "month"] = Field(description="Window the limit applies to (UTC calendar).")
    window: str = Field(description="The current window: `d20261130` or `m202611`.")
    spent_usd: float = Field(ge=0, description="USD spent in the window by the whole fleet.")
    limit_usd: float = Field(gt=0, description="The hard limit (spec.budget.limitUsd).")
    percent: float = Field(ge=0, description="spentUsd in percent of limitUsd.")
    state: Literal["ok", "soft", "exceeded"] = Field(
        description="ok; soft: past softPercent (softAction applies); exceeded: requests get 429 budget_exceeded."
    )
    resets_at: str = Field(description="RFC 3339 time the next window starts.")
    shared: bool = Field(
        description="true: read from the state store; false: no store, the sum of the live replicas' own records."
    )
    spend: str = Field(description="For `kubectl get`: `$12.34/$100 (12%)`.")


class ShadowedProfile(Model):
    """A profile that also serves a model this one wins (the conflict rule: docs/tenancy.md)."""

    model: str = Field(description="The model name both profiles serve.")
    profile: str = Field(description="`namespace/name` of the profile that does not get the model's requests.")


class RoutingProfileStatus(Model):
    """Operator: observedGeneration, conditions, configHash, configMap, providerCount, shadows. Proxies: the rest."""

    observed_generation: int | None = Field(None, description="Generation the operator last processed.")
    conditions: tuple[Condition, ...] = Field(
        (),
        description="Ready, ResolvedRefs, Rendered, Accepted (False, reason ModelConflict, when another "
        "profile wins a model this one serves).",
    )
    config_hash: str | None = Field(None, description="sha256 of the rendered config.yaml.")
    config_map: str | None = Field(
        None, description="namespace/name of the rendered ConfigMap (in the release namespace)."
    )
    provider_count: int | None = Field(None, description="Providers in the rendered config.")
    shadows: tuple[ShadowedProfile, ...] = Field(
        (), description="Profiles serving a model this one wins, which therefore do not get its requests."
    )
    in_sync_replicas: int | None = Field(None, description="Live replicas serving configHash.")
    replicas: tuple[ReplicaSync, ...] = Field((), description="One entry per live proxy replica.")
    budget: BudgetStatus | None = Field(None, description="Spend in the current budget window (with spec.budget).")
