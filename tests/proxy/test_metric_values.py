"""A worker's file-backed values (``WorkerFiles``): the aggregate over the shared directory is exactly what
prometheus-client's own file-backed values give, at once after each update, however the files grow."""

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector

from switchboard.proxy.metric_values import WorkerFiles
from switchboard.proxy.metrics import FastCounter, FastHistogram
from tests.proxy.test_metric_children import _record

BUCKETS = (0.005, 0.01, 1.0, 10.0)


def _aggregate(directory: Path) -> str:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return generate_latest(registry).decode()


def test_worker_files_aggregate_exactly_like_the_library_s_file_backed_values(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ours, library = tmp_path / "ours", tmp_path / "library"
    ours.mkdir()
    library.mkdir()
    files = WorkerFiles(ours)
    counter = FastCounter("hits", "Hits", ["route", "status"], registry=None, values_from=files)
    histogram = FastHistogram("took", "Took", ["route"], buckets=BUCKETS, registry=None, values_from=files)
    _record(counter, histogram)
    counter.count(("chat", "200"))
    counter.count(("chat", "new"))

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(library))
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue())  # type: ignore[no-untyped-call]
    reference_counter = Counter("hits", "Hits", ["route", "status"], registry=None)
    _record(reference_counter, Histogram("took", "Took", ["route"], buckets=BUCKETS, registry=None))
    reference_counter.labels("chat", "200").inc()
    reference_counter.labels("chat", "new").inc()

    text = _aggregate(ours)
    assert sorted(text.splitlines()) == sorted(_aggregate(library).splitlines())  # families in the files' order
    assert 'hits_total{route="chat",status="200"} 5.5' in text
    assert 'took_count{route="chat"} 8.0' in text  # the NaN is in no bucket, as with the library's own
    assert counter.labels("chat", "200")._value.get() == 5.5  # the worker's own registry reads the same


def test_an_update_is_in_the_aggregate_at_once_even_after_the_file_grew(tmp_path: Path) -> None:
    """A new entry that outgrows the file makes ``MmapedDict`` map it anew: values made before still land
    in the file, each update in the next scrape."""
    files = WorkerFiles(tmp_path)
    counter = FastCounter("hits", "Hits", ["route"], registry=None, values_from=files)
    first = counter.labels("first")
    first.inc()
    assert 'hits_total{route="first"} 1.0' in _aggregate(tmp_path)
    for n in range(1200):  # about 80 bytes an entry: past the first 64 KiB
        counter.labels(f"route-{n:04d}").inc(n)
    [file] = tmp_path.glob("counter_*.db")
    assert file.stat().st_size > 1 << 16
    first.inc(2)
    counter.count(("first",))
    text = _aggregate(tmp_path)
    assert 'hits_total{route="first"} 4.0' in text
    assert 'hits_total{route="route-1199"} 1199.0' in text


def test_workers_in_one_directory_add_up_beside_the_library_s_own_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two workers' files and the library's own file of the same process never overwrite each other's
    entries; counters and histograms are summed over all of them."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue())  # type: ignore[no-untyped-call]
    library = Counter("hits", "Hits", ["route"], registry=None)  # writes counter_<pid>.db, as fleet metrics do
    workers = [WorkerFiles(tmp_path), WorkerFiles(tmp_path)]
    counters = [FastCounter("hits", "Hits", ["route"], registry=None, values_from=w) for w in workers]
    histograms = [FastHistogram("took", "Took", [], buckets=BUCKETS, registry=None, values_from=w) for w in workers]
    for n, (counter, histogram) in enumerate(zip(counters, histograms, strict=True)):
        counter.labels("chat").inc(n + 1)
        counter.labels(f"only-{n}").inc()
        histogram.observe(0.001 * (n + 1))
        library.labels("chat").inc(10)
    assert len(list(tmp_path.glob("counter_*.db"))) == 3
    text = _aggregate(tmp_path)
    assert 'hits_total{route="chat"} 23.0' in text
    assert 'hits_total{route="only-0"} 1.0' in text
    assert 'hits_total{route="only-1"} 1.0' in text
    assert 'took_bucket{le="0.005"} 2.0' in text
    assert "took_sum 0.003" in text


def test_worker_files_keep_no_gauges(tmp_path: Path) -> None:
    """A gauge's file is named by its multiprocess mode; the proxy's gauges keep the library's values."""
    with pytest.raises(ValueError, match="counters and histograms only"):
        WorkerFiles(tmp_path)("gauge", "up", "up", (), (), "Up")
