"""LLMProvider: one upstream (OpenAI, Azure OpenAI, Anthropic, Gemini, or any
OpenAI-compatible server) with its models, ratings, limits and resilience knobs."""

from typing import Literal, Self

from pydantic import Field, model_validator

from switchboard.api.base import LIST_MAP_BY_NAME, CelRule, Model, cel_rules

ProviderType = Literal["openai", "azure-openai", "anthropic", "gemini", "openai-compatible"]

DEFAULT_BASE_URLS: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
}


class Pricing(Model):
    """USD per million tokens. Unset pricing falls back to the shipped table."""

    input_per_million: float = Field(0.0, ge=0)
    output_per_million: float = Field(0.0, ge=0)


class ProviderModel(Model):
    """A model the provider serves, under the public name clients ask for."""

    name: str = Field(min_length=1, max_length=253)
    upstream_name: str | None = Field(
        None, min_length=1, description="Name sent upstream (the deployment for Azure); defaults to name."
    )
    pricing: Pricing | None = None
    context_window: int | None = Field(None, ge=1)
    max_output_tokens: int | None = Field(None, ge=1)

    @property
    def upstream(self) -> str:
        return self.upstream_name or self.name


class Ratings(Model):
    """Operator-assigned 1-10 ratings used by the preference strategy."""

    speed: int = Field(5, ge=1, le=10)
    cost: int = Field(5, ge=1, le=10)
    quality: int = Field(5, ge=1, le=10)


class Limits(Model):
    """Upstream quotas this provider must stay under (whole fleet)."""

    requests_per_minute: int | None = Field(None, ge=1)
    tokens_per_minute: int | None = Field(None, ge=1)
    max_concurrency: int | None = Field(None, ge=1)


class Timeouts(Model):
    connect_seconds: float = Field(5.0, gt=0, le=600)
    first_byte_seconds: float = Field(60.0, gt=0, le=3600)
    total_seconds: float = Field(300.0, gt=0, le=3600)


class CircuitBreaker(Model):
    """Per provider and model. Client 4xx other than 429 never count as failures."""

    enabled: bool = True
    consecutive_failures: int = Field(5, ge=1, le=1000)
    failure_rate_threshold: float = Field(0.5, gt=0, le=1)
    window_seconds: float = Field(60.0, gt=0, le=3600)
    minimum_requests: int = Field(10, ge=1, le=100000)
    open_seconds: float = Field(30.0, gt=0, le=3600)
    max_open_seconds: float = Field(300.0, gt=0, le=86400)
    half_open_probes: int = Field(1, ge=1, le=100)
    slow_start_seconds: float = Field(30.0, ge=0, le=3600)


class SecretKeyRef(Model):
    """A key inside a Kubernetes Secret of the provider's namespace."""

    name: str = Field(min_length=1, max_length=253)
    key: str = Field(min_length=1, max_length=253)


PROVIDER_CEL_RULES: tuple[CelRule, ...] = (
    (
        "!(self.type in ['azure-openai', 'openai-compatible']) || has(self.baseUrl)",
        "baseUrl is required for type azure-openai and openai-compatible",
    ),
    (
        "self.type != 'azure-openai' || (has(self.apiVersion) && self.apiVersion != '')",
        "apiVersion is required for type azure-openai",
    ),
)
"""CEL twins of ``ProviderCore._check_cross_fields``; unique model names are
enforced by the CRD as a list map keyed by ``name``."""


class ProviderCore(Model):
    """Fields shared by the CRD spec and the rendered config."""

    model_config = cel_rules(*PROVIDER_CEL_RULES)

    type: ProviderType
    base_url: str | None = Field(None, pattern=r"^https?://")
    api_version: str | None = Field(None, description="Azure OpenAI api-version.")
    models: tuple[ProviderModel, ...] = Field(min_length=1, json_schema_extra=LIST_MAP_BY_NAME)
    ratings: Ratings = Ratings()
    weight: int = Field(1, ge=0, le=1000)
    disabled: bool = False
    limits: Limits = Limits()
    timeouts: Timeouts = Timeouts()
    circuit_breaker: CircuitBreaker = CircuitBreaker()

    @model_validator(mode="after")
    def _check_cross_fields(self) -> Self:
        if self.type in ("azure-openai", "openai-compatible") and not self.base_url:
            raise ValueError("baseUrl is required for type azure-openai and openai-compatible")
        if self.type == "azure-openai" and not self.api_version:
            raise ValueError("apiVersion is required for type azure-openai")
        names = [m.name for m in self.models]
        if len(names) != len(set(names)):
            raise ValueError("models[].name must be unique")
        return self

    @property
    def effective_base_url(self) -> str:
        return (self.base_url or DEFAULT_BASE_URLS[self.type]).rstrip("/")

    def model(self, name: str) -> ProviderModel | None:
        return next((m for m in self.models if m.name == name), None)


class LLMProviderSpec(ProviderCore):
    """``spec`` of the LLMProvider custom resource."""

    api_key_secret_ref: SecretKeyRef | None = None


class CredentialSource(Model):
    """Where the proxy finds an API key at load time. Exactly one field is set.

    The rendered config only ever carries the reference, never the key.
    """

    env: str | None = Field(None, min_length=1)
    file: str | None = Field(None, min_length=1)
    secret: SecretKeyRef | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if sum(x is not None for x in (self.env, self.file, self.secret)) != 1:
            raise ValueError("set exactly one of env, file or secret")
        return self


class ProviderConfig(ProviderCore):
    """A provider as the proxy loads it (rendered by the operator or hand-written)."""

    name: str = Field(min_length=1, max_length=253)
    namespace: str | None = None
    api_key: CredentialSource | None = None

    @property
    def key(self) -> str:
        """Identity across namespaces: ``namespace/name`` or just ``name``."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name
