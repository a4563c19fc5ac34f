"""Metric children found without prometheus-client's lock still count exactly like the library's own."""

from prometheus_client import CollectorRegistry, generate_latest

from switchboard.proxy.metrics import FastCounter, FastHistogram


def test_a_known_label_set_reuses_its_child_and_counts_in_the_exposition() -> None:
    registry = CollectorRegistry()
    counter = FastCounter("hits", "Hits", ["route", "status"], registry=registry)
    first = counter.labels("chat", "200")
    assert counter.labels("chat", "200") is first
    assert counter.labels(route="chat", status="200") is first  # keyword labels: the library's path, same child
    counter.labels("chat", 200).inc(2)  # not a string: converted by the library, same series
    first.inc()
    counter.labels("chat", "500").inc()
    text = generate_latest(registry).decode()
    assert 'hits_total{route="chat",status="200"} 3.0' in text
    assert 'hits_total{route="chat",status="500"} 1.0' in text


def test_a_removed_label_set_starts_again_from_zero() -> None:
    registry = CollectorRegistry()
    histogram = FastHistogram("took", "Took", ["route"], buckets=(1.0,), registry=registry)
    histogram.labels("chat").observe(0.5)
    histogram.remove("chat")
    histogram.labels("chat").observe(2.0)
    text = generate_latest(registry).decode()
    assert 'took_bucket{le="1.0",route="chat"} 0.0' in text
    assert 'took_count{route="chat"} 1.0' in text
