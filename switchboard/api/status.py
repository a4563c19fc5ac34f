"""Status of both custom resources, and the rendered-ConfigMap conventions.

Two writers share each status, on disjoint fields: the operator owns
``observedGeneration``, ``conditions`` and (for profiles) ``configHash`` and
``providerCount``; proxy replicas own ``replicas``, ``summary`` and
``inSyncReplicas``. Both use merge patches on the status subresource.
"""

from typing import Literal

from pydantic import Field

from switchboard.api.base import Model

# Rendered ConfigMap conventions (operator writes, proxies watch).
RENDERED_LABEL = "switchboard.dev/rendered-config"  # value "true"
PROFILE_LABEL = "switchboard.dev/profile"  # value: the RoutingProfile's name
CONFIG_HASH_ANNOTATION = "switchboard.dev/config-hash"  # sha256 hex of the data
CONFIG_DATA_KEY = "config.yaml"  # a ProxyConfig with one profile and its providers
CREDENTIALS_SECRET = "switchboard-credentials"  # in the release namespace; key "<namespace>.<provider>"

CircuitState = Literal["closed", "open", "half-open"]


class Condition(Model):
    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    message: str = ""
    observed_generation: int | None = None
    last_transition_time: str  # RFC 3339


class ProviderHealth(Model):
    """What one replica sees of one provider (all its models together)."""

    circuit: CircuitState = "closed"
    ema_ms: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    error_rate: float = Field(0.0, ge=0, le=1)
    requests_per_minute: float = Field(0.0, ge=0)
    last_error: str | None = None


class ReplicaProviderHealth(ProviderHealth):
    replica: str
    updated_at: str  # RFC 3339


class LLMProviderStatus(Model):
    observed_generation: int | None = None
    conditions: tuple[Condition, ...] = ()
    summary: ProviderHealth | None = None  # aggregate over live replicas: printer columns
    replicas: tuple[ReplicaProviderHealth, ...] = ()


class ReplicaSync(Model):
    replica: str
    config_hash: str
    updated_at: str


class RoutingProfileStatus(Model):
    observed_generation: int | None = None
    conditions: tuple[Condition, ...] = ()
    config_hash: str | None = None
    config_map: str | None = None
    provider_count: int | None = None
    in_sync_replicas: int | None = None
    replicas: tuple[ReplicaSync, ...] = ()
