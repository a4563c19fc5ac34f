"""Service-backed providers: model servers in the cluster reached pod by pod.

``LLMProvider.spec.service`` names a Service of the provider's namespace; the
proxies follow its EndpointSlices and send each attempt straight to one ready
endpoint, chosen by ``endpointPicking``. Each endpoint has its own breaker
(``ejection``); a saturated or empty pool makes the provider ineligible so the
profile spills over to its next provider.
"""

from typing import Annotated, Literal

from pydantic import Field

from switchboard.api.base import Model, cel_rules

PickingPolicy = Literal["least-busy", "round-robin", "prefix-affinity", "least-queue"]

PORT_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
PortNumber = Annotated[int, Field(ge=1, le=65535)]
PortName = Annotated[str, Field(min_length=1, max_length=15, pattern=PORT_NAME_PATTERN)]


class ServiceRef(Model):
    """A Service in the provider's namespace whose ready endpoints serve the API."""

    model_config = cel_rules(
        (
            "type(self.port) == int ? (self.port >= 1 && self.port <= 65535)"
            f" : (size(self.port) <= 15 && self.port.matches('{PORT_NAME_PATTERN}'))",
            "port must be a number 1-65535 or an IANA port name (lower case, at most 15 characters)",
        ),
    )

    name: str = Field(min_length=1, max_length=63, description="Service name (same namespace as the LLMProvider).")
    port: PortNumber | PortName = Field(description="Service port, by number or by name.")
    scheme: Literal["http", "https"] = Field("http", description="Scheme spoken to each endpoint.")
    path: str = Field(
        "/v1", pattern=r"^(/[^?#\s]*)?$", description="API root path on each endpoint (`/v1` for vLLM, SGLang, TGI)."
    )


class EndpointMetrics(Model):
    """Where and what to scrape on each endpoint (Prometheus text format, vLLM names by default)."""

    path: str = Field("/metrics", pattern=r"^/[^?#\s]*$", description="Metrics path on the endpoint's own port.")
    interval_ms: int = Field(250, ge=50, le=60000, description="Scrape period per endpoint.")
    waiting_metric: str = Field(
        "vllm:num_requests_waiting", min_length=1, description="Gauge of queued requests (summed over its series)."
    )
    kv_cache_metric: str = Field(
        "vllm:kv_cache_usage_perc", min_length=1, description="Gauge of KV-cache usage, 0-1 (summed over its series)."
    )


class Saturation(Model):
    """When an endpoint is full. A provider whose every endpoint is full is skipped: traffic spills over."""

    max_in_flight: int | None = Field(
        None, ge=1, le=100000, description="Requests this replica keeps in flight per endpoint; unset: no limit."
    )
    max_waiting: int | None = Field(
        None, ge=0, le=100000, description="Scraped waiting requests at or above which an endpoint is full."
    )
    max_kv_cache_usage: float | None = Field(
        None, gt=0, le=1, description="Scraped KV-cache usage at or above which an endpoint is full."
    )

    @property
    def uses_metrics(self) -> bool:
        return self.max_waiting is not None or self.max_kv_cache_usage is not None


class Ejection(Model):
    """Per-endpoint breaker: an endpoint that keeps failing is ejected; the provider stays."""

    consecutive_failures: int = Field(3, ge=1, le=1000, description="Failures in a row that eject the endpoint.")
    ejection_seconds: float = Field(5.0, gt=0, le=3600, description="First ejection; then one probe call decides.")
    max_ejection_seconds: float = Field(
        120.0, gt=0, le=86400, description="Cap of the ejection, which doubles each time the probe fails."
    )


class EndpointPicking(Model):
    """How one endpoint of a Service-backed provider is chosen for each attempt."""

    policy: PickingPolicy = Field(
        "least-busy",
        description="least-busy: fewest in flight; round-robin; prefix-affinity: consistent hash of the prompt "
        "prefix; least-queue: fewest scraped waiting requests, then KV-cache usage.",
    )
    prefix_chars: int = Field(
        512, ge=1, le=1_000_000, description="prefix-affinity: leading prompt characters that form the hash key."
    )
    metrics: EndpointMetrics = Field(EndpointMetrics(), description="Scraping for least-queue and saturation.")
    saturation: Saturation = Field(Saturation(), description="When an endpoint is full (spill-over threshold).")
    ejection: Ejection = Field(Ejection(), description="Per-endpoint breaker: when an endpoint is ejected.")

    @property
    def scrapes(self) -> bool:
        """Whether endpoints' metrics must be scraped."""
        return self.policy == "least-queue" or self.saturation.uses_metrics
