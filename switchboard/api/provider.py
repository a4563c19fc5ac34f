"""LLMProvider: one upstream (OpenAI, Azure OpenAI, Anthropic, Gemini, or any
OpenAI-compatible server) with its models, ratings, limits and resilience knobs."""

import functools
from collections.abc import Mapping
from typing import Literal, Self

from pydantic import Field, model_validator
from yarl import URL

from switchboard.api.base import LIST_MAP_BY_NAME, CelRule, Model, cel_rules
from switchboard.api.endpoints import EndpointPicking, ServiceRef
from switchboard.api.object_key import object_key

ProviderType = Literal["openai", "azure-openai", "anthropic", "gemini", "openai-compatible"]

DEFAULT_BASE_URLS: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
}


class Pricing(Model):
    """USD per million tokens. Unset pricing falls back to the shipped table."""

    input_per_million: float = Field(0.0, ge=0, description="USD per million prompt tokens.")
    output_per_million: float = Field(0.0, ge=0, description="USD per million completion tokens.")
    cached_input_per_million: float | None = Field(
        None, ge=0, description="USD per million prompt tokens read from the prompt cache; unset: the input price."
    )
    cache_write_per_million: float | None = Field(
        None, ge=0, description="USD per million prompt tokens written to the prompt cache; unset: the input price."
    )
    reasoning_per_million: float | None = Field(
        None, ge=0, description="USD per million reasoning (thinking) tokens; unset: the output price."
    )


class ProviderModel(Model):
    """A model the provider serves, under the public name clients ask for."""

    name: str = Field(min_length=1, max_length=253, description="Public model name clients send as `model`.")
    upstream_name: str | None = Field(
        None, min_length=1, description="Name sent upstream (the deployment for Azure); defaults to name."
    )
    pricing: Pricing | None = Field(None, description="Price of this model; unset: looked up in the shipped table.")
    context_window: int | None = Field(
        None, ge=1, description="Prompt tokens the model accepts; larger (estimated) prompts skip this provider."
    )
    max_output_tokens: int | None = Field(
        None, ge=1, description="Completion tokens the model can produce; caps the cost estimate."
    )

    @property
    def upstream(self) -> str:
        return self.upstream_name or self.name


class Ratings(Model):
    """Operator-assigned 1-10 ratings used by the preference strategy."""

    speed: int = Field(5, ge=1, le=10, description="10 = fastest.")
    cost: int = Field(5, ge=1, le=10, description="10 = cheapest.")
    quality: int = Field(5, ge=1, le=10, description="10 = best answers.")


class Limits(Model):
    """Upstream quotas this provider must stay under (whole fleet)."""

    requests_per_minute: int | None = Field(
        None, ge=1, description="Requests per minute across the fleet; each replica enforces 1/replicas of it."
    )
    tokens_per_minute: int | None = Field(
        None, ge=1, description="Prompt plus completion tokens per minute across the fleet (1/replicas each)."
    )
    max_concurrency: int | None = Field(
        None, ge=1, description="Calls in flight across the fleet; each replica allows ceil(value/replicas)."
    )


class Timeouts(Model):
    """Per-attempt timeouts; the total is also cut to what is left of the request deadline."""

    connect_seconds: float = Field(5.0, gt=0, le=600, description="TCP and TLS connect.")
    first_byte_seconds: float = Field(
        60.0, gt=0, le=3600, description="Longest wait for any read: the first byte, and any silence inside a stream."
    )
    first_token_seconds: float | None = Field(
        None,
        gt=0,
        le=3600,
        description=(
            "Streams: longest wait from the attempt's start to the first content or tool-call chunk; past it the "
            "attempt fails over like any failure before the first token. Unset: only firstByteSeconds applies."
        ),
    )
    total_seconds: float = Field(300.0, gt=0, le=3600, description="Whole attempt, including a streamed body.")


class CircuitBreaker(Model):
    """Per provider and model. Client 4xx answers other than 401, 403 and 429 never count as failures."""

    enabled: bool = Field(True, description="false: never trips (an open circuit closes on reload).")
    consecutive_failures: int = Field(5, ge=1, le=1000, description="Failures in a row that open the circuit.")
    failure_rate_threshold: float = Field(
        0.5, gt=0, le=1, description="Failure share over the window that opens the circuit (with minimumRequests)."
    )
    window_seconds: float = Field(60.0, gt=0, le=3600, description="Sliding window for the failure rate.")
    minimum_requests: int = Field(
        10, ge=1, le=100000, description="Calls in the window before the failure rate can open the circuit."
    )
    open_seconds: float = Field(30.0, gt=0, le=3600, description="First open period before half-open probes.")
    max_open_seconds: float = Field(
        300.0, gt=0, le=86400, description="Cap of the open period, which doubles on each failed probe."
    )
    half_open_probes: int = Field(
        1, ge=1, le=100, description="Concurrent probe calls in half-open; this many successes close the circuit."
    )
    slow_start_seconds: float = Field(
        30.0, ge=0, le=3600, description="After closing, traffic share ramps from 10% to 100% over this; 0 = off."
    )


SECRET_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
"""A Kubernetes object name (DNS subdomain): no slash, no ``..``, nothing that reaches elsewhere."""
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
"""What Kubernetes allows as a key of a Secret's data."""

SECRET_GRANT_ANNOTATION = "switchboard.dev/allowed-providers"
"""Opt-in on a Secret: comma-separated LLMProvider names of the Secret's namespace that may use
its keys, or ``*`` for every one. Only someone who may write the Secret can set it, so creating
an LLMProvider is never a way to read a Secret (like Gateway API's ReferenceGrant)."""


def granted_providers(annotations: Mapping[str, str] | None) -> frozenset[str]:
    """The providers a Secret's opt-in annotation names (``*`` stays as is); empty without one."""
    raw = (annotations or {}).get(SECRET_GRANT_ANNOTATION, "")
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


def secret_grants(granted: frozenset[str], provider: str) -> bool:
    """Whether a Secret whose opt-in names ``granted`` may serve ``provider``'s key."""
    return "*" in granted or provider in granted


class SecretKeyRef(Model):
    """A key inside a Kubernetes Secret of the provider's namespace."""

    name: str = Field(
        min_length=1, max_length=253, pattern=SECRET_NAME_PATTERN, description="Secret name (same namespace)."
    )
    key: str = Field(
        min_length=1, max_length=253, pattern=SECRET_KEY_PATTERN, description="Key inside the Secret's data."
    )


PROVIDER_CEL_RULES: tuple[CelRule, ...] = (
    (
        "!(has(self.baseUrl) && has(self.service))",
        "set exactly one of baseUrl or service",
    ),
    (
        "self.type != 'azure-openai' || has(self.baseUrl)",
        "baseUrl is required for type azure-openai",
    ),
    (
        "self.type != 'openai-compatible' || has(self.baseUrl) || has(self.service)",
        "baseUrl is required for type openai-compatible unless service is set",
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

    type: ProviderType = Field(description="API dialect of the upstream; selects the adapter.")
    base_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="API root; defaults per type (required for azure-openai and openai-compatible).",
    )
    service: ServiceRef | None = Field(
        None, description="A Service of this namespace whose ready endpoints are called directly (instead of baseUrl)."
    )
    endpoint_picking: EndpointPicking | None = Field(
        None, description="With service: how each attempt's endpoint is chosen, saturation, ejection (see type)."
    )
    api_version: str | None = Field(None, description="Azure OpenAI api-version.")
    models: tuple[ProviderModel, ...] = Field(
        min_length=1, json_schema_extra=LIST_MAP_BY_NAME, description="Models served; names unique."
    )
    ratings: Ratings = Field(Ratings(), description="Scores used by the preference strategy.")
    weight: int = Field(
        1,
        ge=0,
        le=1000,
        description="Relative share for weighted and preference; 0 = never first while another has weight.",
    )
    disabled: bool = Field(False, description="true: never routed to (kept in config).")
    limits: Limits = Field(Limits(), description="Upstream quotas the fleet stays under.")
    timeouts: Timeouts = Field(Timeouts(), description="Per-attempt timeouts, unless the profile sets its own.")
    circuit_breaker: CircuitBreaker = Field(CircuitBreaker(), description="Per provider-model circuit breaker.")

    @model_validator(mode="after")
    def _check_cross_fields(self) -> Self:
        if self.base_url and self.service is not None:
            raise ValueError("set exactly one of baseUrl or service")
        if self.type == "azure-openai" and not self.base_url:
            raise ValueError("baseUrl is required for type azure-openai")
        if self.type == "openai-compatible" and not self.base_url and self.service is None:
            raise ValueError("baseUrl is required for type openai-compatible unless service is set")
        if self.type == "azure-openai" and not self.api_version:
            raise ValueError("apiVersion is required for type azure-openai")
        names = [m.name for m in self.models]
        if len(names) != len(set(names)):
            raise ValueError("models[].name must be unique")
        return self

    @property
    def picking(self) -> EndpointPicking:
        """The endpoint picking settings in force (the defaults when unset)."""
        return self.endpoint_picking or EndpointPicking()

    @property
    def effective_base_url(self) -> str:
        """The API root; for a Service-backed provider, the Service's cluster DNS name (each attempt
        replaces it with the chosen endpoint's address)."""
        if self.service is not None:
            svc = self.service
            port = f":{svc.port}" if isinstance(svc.port, int) else ""
            return f"{svc.scheme}://{svc.name}{port}{svc.path}".rstrip("/")
        return (self.base_url or DEFAULT_BASE_URLS[self.type]).rstrip("/")

    def model(self, name: str) -> ProviderModel | None:
        return next((m for m in self.models if m.name == name), None)


class LLMProviderSpec(ProviderCore):
    """``spec`` of the LLMProvider custom resource."""

    api_key_secret_ref: SecretKeyRef | None = Field(
        None, description="Secret (same namespace) holding the API key; the operator copies it for the proxies."
    )


class CredentialSource(Model):
    """Where the proxy finds an API key at load time. Exactly one field is set.

    The rendered config only ever carries the reference, never the key.
    """

    env: str | None = Field(None, min_length=1, description="Environment variable holding the key.")
    file: str | None = Field(None, min_length=1, description="File holding the key (surrounding whitespace stripped).")
    secret: SecretKeyRef | None = Field(None, description="Secret key (cluster mode only).")

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if sum(x is not None for x in (self.env, self.file, self.secret)) != 1:
            raise ValueError("set exactly one of env, file or secret")
        return self


class ProviderConfig(ProviderCore):
    """A provider as the proxy loads it (rendered by the operator or hand-written)."""

    name: str = Field(min_length=1, max_length=253, description="Provider name, unique per namespace.")
    namespace: str | None = Field(None, description="Namespace of the LLMProvider (set by the operator).")
    api_key: CredentialSource | None = Field(None, description="Where the key comes from; unset: no auth header.")
    service_port_name: str | None = Field(
        None,
        max_length=15,
        description="With service: the EndpointSlice port name its port maps to (the operator resolves it).",
    )

    @functools.cached_property
    def key(self) -> str:
        """Identity across namespaces: ``namespace/name`` or just ``name`` (cached: read many times a request)."""
        return object_key(self.namespace, self.name)

    @functools.cached_property
    def server(self) -> tuple[str, int] | None:
        """The API root's host and port (``server.address``/``server.port`` of every traced attempt: parsed
        once per config, not per attempt); None when the URL names no host."""
        url = URL(self.effective_base_url)
        if not url.host:
            return None
        return url.host, url.port or (443 if url.scheme == "https" else 80)
