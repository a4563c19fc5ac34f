"""Prometheus metrics, one registry per app so several apps (tests, workers)
never share counters. Circuit state is read from the router at scrape time.

Under ``--workers N`` every worker runs with ``PROMETHEUS_MULTIPROC_DIR`` set
(``proxy/workers.py``): the proxy's counters and histograms keep their values in
the worker's own files there (``metric_values.WorkerFiles``), its gauges in
prometheus-client's, and ``/metrics`` serves the aggregate of all workers' files
(``MultiProcessCollector``) instead of the answering worker's own counters.
"""

import os
import time
from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from switchboard.api.status import CircuitState, ProviderHealth
from switchboard.proxy.metric_values import LoopValue, ValueSource, WorkerFiles

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_CIRCUIT_STATES: tuple[CircuitState, ...] = get_args(CircuitState)

HealthSource = Callable[[], Mapping[str, ProviderHealth]]
MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus-client's own switch: it picks file-backed values at import when this is set."""


def multiprocess_dir(environ: Mapping[str, str]) -> Path | None:
    """The shared metrics directory of a ``--workers`` run, or None in a single process."""
    value = environ.get(MULTIPROC_DIR_ENV, "").strip()
    return Path(value) if value else None


_M = TypeVar("_M", bound=MetricWrapperBase)


def _value_class() -> ValueSource:
    """``LoopValue`` in a single process; under ``--workers`` the library's file-backed values."""
    library: ValueSource = values.ValueClass
    return library if getattr(library, "_multiprocess", False) else LoopValue


class _FastMetric(MetricWrapperBase):
    """A metric whose values come from ``values_from`` (default: as the process's library values would, without
    the lock in a single process), and whose ``labels()`` finds a known child in prometheus-client's own
    children dict.

    The library's ``labels()`` validates, converts every value with ``str()`` and
    takes a lock on each call (about 2.5 us; seven calls per request). Label
    values here are already strings, so a plain lookup finds the child that the
    first call created; anything else (a new label set, keyword labels, values
    that are not strings) takes the library's own path.
    """

    def __init__(self, *args: object, values_from: ValueSource | None = None, **kwargs: object) -> None:
        self._values = _value_class() if values_from is None else values_from  # set first: the library's makes values
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._kwargs["values_from"] = self._values  # its children get the same

    def labels(self: _M, *labelvalues: object, **labelkwargs: object) -> _M:
        if not labelkwargs:
            known: dict[tuple[object, ...], _M] = self._metrics  # type: ignore[assignment]
            child = known.get(labelvalues)
            if child is not None:
                return child
        return super().labels(*labelvalues, **labelkwargs)


class FastCounter(_FastMetric, Counter):
    """A Counter whose known children are found without a lock, and count without one (see ``metric_values``)."""

    def _metric_init(self) -> None:  # the library's, with ``self._values``
        name, labelvalues, documentation = self._name, self._labelvalues, self._documentation
        self._value = self._values(self._type, name, name + "_total", self._labelnames, labelvalues, documentation)
        self._created = time.time()

    def inc(self, amount: float = 1, exemplar: dict[str, str] | None = None) -> None:
        if self._labelvalues and amount >= 0 and not exemplar:  # a child, a valid amount: nothing to check
            value = self._value
            if value.__class__ is LoopValue:
                value._value += amount  # ``LoopValue.inc``, inline: a call less per count
            else:
                value.inc(amount)
        else:
            super().inc(amount, exemplar)  # the library's checks and errors

    def count(self, labelvalues: tuple[str, ...]) -> None:
        """``labels(*labelvalues).inc()`` in one call once the child exists (once per request: the routing
        decision)."""
        known: dict[tuple[object, ...], FastCounter] = self._metrics  # type: ignore[assignment]
        child = known.get(labelvalues)
        if child is None:
            child = self.labels(*labelvalues)
        value = child._value
        if value.__class__ is LoopValue:
            value._value += 1
        else:
            value.inc(1)


class FastHistogram(_FastMetric, Histogram):
    """A Histogram whose known children are found without a lock, and observe without one."""

    def _metric_init(self) -> None:  # the library's, with ``self._values``
        value, name, labelvalues, documentation = self._values, self._name, self._labelvalues, self._documentation
        self._created = time.time()
        self._sum = value(self._type, name, name + "_sum", self._labelnames, labelvalues, documentation)
        per_bucket = (*self._labelnames, "le")
        bounds = [floatToGoString(b) for b in self._upper_bounds]  # type: ignore[no-untyped-call]
        self._buckets = [
            value(self._type, name, name + "_bucket", per_bucket, (*labelvalues, bound), documentation)
            for bound in bounds
        ]

    def observe(self, amount: float, exemplar: dict[str, str] | None = None) -> None:
        if self._labelvalues and amount == amount and not exemplar:  # a child, not NaN (no bucket takes a NaN)
            total, bucket = self._sum, self._buckets[bisect_left(self._upper_bounds, amount)]  # first bound >= amount
            if total.__class__ is LoopValue:
                total._value += amount  # ``LoopValue.inc``, inline: two calls less per observation
                bucket._value += 1
            else:
                total.inc(amount)
                bucket.inc(1)
        else:
            super().observe(amount, exemplar)


class _CircuitCollector(Collector):
    """``switchboard_circuit_state{provider,state}``: 1 for the provider's current state."""

    def __init__(self, source: Callable[[], HealthSource | None]) -> None:
        self._source = source

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "switchboard_circuit_state", "Circuit state per provider (1 = current)", labels=["provider", "state"]
        )
        health = self._source()
        for provider, status in sorted((health() if health else {}).items()):
            for state in _CIRCUIT_STATES:
                family.add_metric([provider, state], 1.0 if status.circuit == state else 0.0)
        yield family


class RouteSeries:
    """The per-attempt series of one (api, endpoint, profile, provider): first byte, tokens and cost.

    Each series is resolved with ``labels()`` on its first use and then kept, so an answered
    request records all of them in one call instead of a ``labels()`` lookup each. A series
    still appears only once something was recorded in it (an unpriced model has no cost series).
    """

    __slots__ = ("_completion", "_cost", "_first_byte", "_metrics", "_prompt", "_route")

    def __init__(self, metrics: "ProxyMetrics", route: tuple[str, str, str, str]) -> None:
        self._metrics, self._route = metrics, route
        self._first_byte: FastHistogram | None = None
        self._prompt: FastCounter | None = None
        self._completion: FastCounter | None = None
        self._cost: FastCounter | None = None

    def record(self, first_byte_s: float | None, tokens: tuple[int, int] | None, cost: float | None) -> None:
        """An attempt's time to first byte (None: it sent none), its (prompt, completion) tokens and its cost
        (all from the attempt's own clock and usage: never negative, never NaN)."""
        if first_byte_s is not None:
            first_byte = self._first_byte
            if first_byte is None:
                first_byte = self._first_byte = self._metrics.first_byte.labels(*self._route)
            first_byte.observe(first_byte_s)
        if tokens is not None:
            prompt, completion = self._prompt, self._completion
            if prompt is None or completion is None:
                api, _, profile, provider = self._route
                prompt = self._prompt = self._metrics.tokens.labels(api, profile, provider, "prompt")
                completion = self._completion = self._metrics.tokens.labels(api, profile, provider, "completion")
            prompt.inc(tokens[0])
            completion.inc(tokens[1])
        if cost is not None:
            counter = self._cost
            if counter is None:
                api, _, profile, provider = self._route
                counter = self._cost = self._metrics.cost.labels(api, profile, provider)
            counter.inc(cost)


@dataclass(frozen=True)
class ProxyMetrics:
    registry: CollectorRegistry
    """Where this app's metrics are registered (and recorded)."""
    exposition: CollectorRegistry
    """What ``/metrics`` serves: ``registry`` itself, or the workers' aggregate plus this worker's circuits."""
    value_source: ValueSource
    """What keeps the numbers of this app's counters and histograms (``values_from`` of any made elsewhere):
    in memory, or (``--workers``) in this worker's own files."""
    requests: FastCounter
    latency: FastHistogram
    first_byte: FastHistogram
    upstream_errors: FastCounter
    tokens: FastCounter
    cost: FastCounter
    retries: FastCounter
    fallbacks: FastCounter
    decisions: FastCounter
    spillovers: FastCounter
    reloads: FastCounter
    config_loaded: Gauge
    client_requests: FastCounter
    client_cost: FastCounter
    routes: dict[tuple[str, str, str, str], RouteSeries] = field(default_factory=dict)
    """(api, endpoint, profile key, provider key) -> its per-attempt series (see ``route``)."""
    retried_by_profile: Tally[str] = field(default_factory=Tally)
    """Attempts after the first, per profile key ("namespace/name"): cluster mode's failover-storm input.
    (The ``retries`` metric is labelled by profile name, which is not unique across namespaces.)"""

    def route(self, api: str, endpoint: str, profile: str, provider: str) -> RouteSeries:
        """The per-attempt series of this route, made on first use (bounded like the label sets themselves)."""
        key = (api, endpoint, profile, provider)
        series = self.routes.get(key)
        if series is None:
            series = self.routes[key] = RouteSeries(self, key)
        return series

    @contextmanager
    def collecting(self, collector: Collector) -> Iterator[None]:
        """``collector`` in ``/metrics`` while the block runs: a live view read at scrape time (as the circuits
        are), so with ``--workers`` it joins the aggregate exposition too, as the answering worker's view."""
        registries = [self.registry] if self.exposition is self.registry else [self.registry, self.exposition]
        for registry in registries:
            registry.register(collector)
        try:
            yield
        finally:
            for registry in registries:
                registry.unregister(collector)


def create_metrics(health: Callable[[], HealthSource | None], environ: Mapping[str, str] | None = None) -> ProxyMetrics:
    """All proxy metrics in a fresh registry; ``health`` returns the live router's provider_health.

    ``environ`` (default ``os.environ``) decides, like it decided prometheus-client's value
    storage: with ``PROMETHEUS_MULTIPROC_DIR`` set, the counters and histograms are kept in
    this worker's own files there and the exposition is the aggregate of all workers' files.
    """
    circuits = _CircuitCollector(health)
    r = CollectorRegistry()
    r.register(circuits)
    directory = multiprocess_dir(os.environ if environ is None else environ)
    value_source: ValueSource = LoopValue if directory is None else WorkerFiles(directory)
    counter = partial(FastCounter, registry=r, values_from=value_source)
    histogram = partial(FastHistogram, buckets=_LATENCY_BUCKETS, registry=r, values_from=value_source)
    route = ["api", "endpoint", "profile", "provider"]  # the request-time histograms' labels
    return ProxyMetrics(
        registry=r,
        exposition=_exposition(r, circuits, directory),
        value_source=value_source,
        requests=counter("switchboard_requests", "Client requests", [*route, "status"]),
        latency=histogram("switchboard_request_duration_seconds", "Total request time as the client sees it", route),
        first_byte=histogram(
            "switchboard_time_to_first_byte_seconds", "Time until the first response byte was sent to the client", route
        ),
        upstream_errors=counter("switchboard_upstream_errors", "Failed upstream attempts", ["provider", "kind"]),
        tokens=counter("switchboard_tokens", "Tokens used", ["api", "profile", "provider", "kind"]),
        cost=counter("switchboard_cost_usd", "Estimated spend in USD", ["api", "profile", "provider"]),
        retries=counter("switchboard_retries", "Attempts after the first", ["profile", "provider"]),
        fallbacks=counter("switchboard_fallbacks", "Requests served by a fallback model", ["profile"]),
        decisions=counter(
            "switchboard_routing_decisions", "Providers chosen first by the router", ["profile", "strategy", "provider"]
        ),
        spillovers=counter(
            "switchboard_spillovers",
            "Requests that passed over a Service-backed provider, by why (saturated, all_ejected, ...)",
            ["profile", "provider", "reason"],
        ),
        reloads=counter("switchboard_config_reloads", "Config reloads", ["result"]),
        config_loaded=Gauge(
            "switchboard_config_loaded",
            "1 once a valid config is serving",
            registry=r,
            multiprocess_mode="livemin",  # workers: 1 only when every live worker serves a config
        ),
        client_requests=counter(
            "switchboard_client_requests",
            "Requests per client key (its name, never the key) and key namespace, by status class",
            ["client", "client_namespace", "status_class"],
        ),
        client_cost=counter(
            "switchboard_client_cost_usd",
            "Estimated spend in USD per client key and key namespace",
            ["client", "client_namespace"],
        ),
    )


def _exposition(registry: CollectorRegistry, circuits: Collector, directory: Path | None) -> CollectorRegistry:
    """The app's own registry, or (multi-process) every worker's recorded values plus this worker's circuits.

    Circuit breakers live in each worker's memory, so ``switchboard_circuit_state`` is the answering worker's view.
    """
    if directory is None:
        return registry
    aggregate = CollectorRegistry()
    MultiProcessCollector(aggregate, path=str(directory))  # type: ignore[no-untyped-call]
    aggregate.register(circuits)
    return aggregate
