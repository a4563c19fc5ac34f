"""Metric children found and updated without prometheus-client's locks still count exactly like the library's own."""

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector

from switchboard.proxy.metrics import MULTIPROC_DIR_ENV, FastCounter, FastHistogram, create_metrics


def test_a_known_label_set_reuses_its_child_and_counts_in_the_exposition() -> None:
    registry = CollectorRegistry()
    counter = FastCounter("hits", "Hits", ["route", "status"], registry=registry)
    first = counter.labels("chat", "200")
    assert counter.labels("chat", "200") is first
    assert counter.labels(route="chat", status="200") is first  # keyword labels: the library's path, same child
    counter.labels("chat", 200).inc(2)  # not a string: converted by the library, same series
    first.inc()
    counter.labels("chat", "500").inc()
    counter.count(("chat", "200"))  # ``labels(...).inc()`` in one call: the known child
    counter.count(("chat", "404"))  # a new label set: made as ``labels`` makes it
    assert counter.labels("chat", "404") is counter.labels("chat", "404")
    text = generate_latest(registry).decode()
    assert 'hits_total{route="chat",status="200"} 4.0' in text
    assert 'hits_total{route="chat",status="500"} 1.0' in text
    assert 'hits_total{route="chat",status="404"} 1.0' in text


def test_a_removed_label_set_starts_again_from_zero() -> None:
    registry = CollectorRegistry()
    histogram = FastHistogram("took", "Took", ["route"], buckets=(1.0,), registry=registry)
    histogram.labels("chat").observe(0.5)
    histogram.remove("chat")
    histogram.labels("chat").observe(2.0)
    text = generate_latest(registry).decode()
    assert 'took_bucket{le="1.0",route="chat"} 0.0' in text
    assert 'took_count{route="chat"} 1.0' in text


def _record(counter: Counter, histogram: Histogram) -> None:
    """The same updates for both kinds: new and known children, amounts on and between bounds, NaN, errors."""
    for route, status in (("chat", "200"), ("chat", "200"), ("chat", "500"), ("embeddings", "200")):
        counter.labels(route, status).inc()
    counter.labels("chat", "200").inc(2.5)
    counter.labels("chat", "200").inc(0)
    with pytest.raises(ValueError, match="non-negative"):
        counter.labels("chat", "200").inc(-1)
    with pytest.raises(ValueError, match="missing label values"):
        counter.inc()
    for amount in (0.0, 0.004, 0.005, 0.0051, 1.0, 7.5, 400.0, float("nan"), -2.0):
        histogram.labels("chat").observe(amount)
    histogram.labels("embeddings").observe(0.2)
    with pytest.raises(ValueError, match="missing label values"):
        histogram.observe(1.0)


def _without_created(exposition: bytes) -> list[str]:
    return [line for line in exposition.decode().splitlines() if "_created" not in line]


def test_fast_metrics_expose_exactly_what_the_library_s_own_would() -> None:
    fast, library = CollectorRegistry(), CollectorRegistry()
    buckets = (0.005, 0.01, 1.0, 10.0)
    _record(
        FastCounter("hits", "Hits", ["route", "status"], registry=fast),
        FastHistogram("took", "Took", ["route"], buckets=buckets, registry=fast),
    )
    _record(
        Counter("hits", "Hits", ["route", "status"], registry=library),
        Histogram("took", "Took", ["route"], buckets=buckets, registry=library),
    )
    assert _without_created(generate_latest(fast)) == _without_created(generate_latest(library))
    assert 'took_bucket{le="0.005",route="chat"} 4.0' in generate_latest(fast).decode()  # 0.005 is in its own bucket


def test_with_workers_fast_metrics_write_the_shared_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Under ``--workers`` the values are the library's file-backed ones: the aggregate over the files has them."""
    monkeypatch.setenv(MULTIPROC_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue())  # type: ignore[no-untyped-call]
    counter = FastCounter("hits", "Hits", ["route", "status"], registry=None)
    histogram = FastHistogram("took", "Took", ["route"], buckets=(0.005, 0.01, 1.0, 10.0), registry=None)
    _record(counter, histogram)
    counter.count(("chat", "200"))
    aggregate = CollectorRegistry()
    MultiProcessCollector(aggregate, path=str(tmp_path))  # type: ignore[no-untyped-call]
    text = generate_latest(aggregate).decode()
    assert 'hits_total{route="chat",status="200"} 5.5' in text
    assert 'took_bucket{le="0.005",route="chat"} 4.0' in text
    assert 'took_count{route="chat"} 8.0' in text  # the NaN is in no bucket, as with the library's own


def test_a_route_s_series_appear_only_once_something_is_recorded_in_them() -> None:
    """``ProxyMetrics.route`` keeps one route's children: an unpriced answer has tokens and no cost series
    (unknown is not free), an attempt that sent nothing has no first-byte sample."""
    metrics = create_metrics(lambda: None, environ={})
    route = metrics.route("chat", "chat/completions", "team/default", "team/a")
    assert metrics.route("chat", "chat/completions", "team/default", "team/a") is route
    route.record(None, (7, 3), None)
    text = generate_latest(metrics.registry).decode()
    assert 'switchboard_tokens_total{api="chat",kind="prompt",profile="team/default",provider="team/a"} 7.0' in text
    assert "switchboard_cost_usd_total{" not in text
    assert "switchboard_time_to_first_byte_seconds_count{" not in text
    route.record(0.02, (1, 2), 0.5)
    route.record(0.2, None, 0.25)
    text = generate_latest(metrics.registry).decode()
    assert 'switchboard_tokens_total{api="chat",kind="completion",profile="team/default",provider="team/a"} 5.0' in text
    assert 'switchboard_cost_usd_total{api="chat",profile="team/default",provider="team/a"} 0.75' in text
    first_byte = 'switchboard_time_to_first_byte_seconds_bucket{api="chat",endpoint="chat/completions",'
    assert first_byte + 'le="0.025",profile="team/default",provider="team/a"} 1.0' in text
    assert first_byte + 'le="0.25",profile="team/default",provider="team/a"} 2.0' in text
