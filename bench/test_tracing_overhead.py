"""Throughput of the proxy with OpenTelemetry on (traces and GenAI metrics to an OTLP endpoint) versus off.

Same run, same mock upstream, three proxy processes started alike except for
their ``OTEL_*`` variables: off, on (every request traced), and on with the
documented sampling advice (``parentbased_traceidratio`` at 10 %, GenAI metrics
still on). Rounds alternate off/on/sampled so machine noise hits all three.
Each traced proxy exports to its own OTLP endpoint (``bench/otlp_sink.py``, its
own process so decoding never competes with the load generator) that decodes
every export with the official protobuf definitions and counts the spans, so
the exporter does its full work. The proxy's CPU per request (all its threads,
the exporter's included) is the steadier figure on a shared machine.

``BENCH_TRACING_BASELINE=<git revision>`` adds that revision's code, off and
on, to the same interleaved rounds: a before/after of the tracing cost itself.
"""

import contextlib
import http.client
import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from bench import paths
from bench.run import baseline_checkout
from hack.checkout import REPO_ROOT

N = 800
CONCURRENCY = 16
ROUNDS = 3
BODY = json.dumps({"model": paths.FAST_MODEL, "messages": [{"role": "user", "content": "benchmark this short prompt"}]})
SAMPLED = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}
BASELINE = os.environ.get("BENCH_TRACING_BASELINE", "")
MODES = ("off", "on", "sampled", *(("baseline-off", "baseline-on") if BASELINE else ()))


def _otel(sink: paths.Server, **extra: str) -> dict[str, str]:
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.url, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", **extra}


@pytest.fixture(scope="module")
def proxies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, paths.Server], dict[str, str]]]:
    scratch = tmp_path_factory.mktemp("bench-otel")
    with contextlib.ExitStack() as stack:
        mock = stack.enter_context(paths.mock(scratch))
        traced = [mode for mode in MODES if not mode.endswith("off")]
        sinks = {mode: stack.enter_context(paths.otlp_sink(scratch, f"sink-{mode}")) for mode in traced}
        envs = {mode: _otel(sinks[mode], **(SAMPLED if mode == "sampled" else {})) for mode in traced}
        checkout = baseline_checkout(BASELINE, scratch) if BASELINE else REPO_ROOT
        servers = {}
        for mode in MODES:
            directory = scratch / mode
            directory.mkdir()
            start = paths.switchboard(
                workers=1,
                providers=1,
                log_level="WARNING",
                env=envs.get(mode, {}),
                checkout=checkout if mode.startswith("baseline") else REPO_ROOT,
            )
            servers[mode] = stack.enter_context(start(mock.url, directory))
        yield servers, {mode: sink.url for mode, sink in sinks.items()}


def _spans(sink_url: str) -> int:
    host, port = sink_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/count")
    return int(conn.getresponse().read())


def _run(server: paths.Server) -> tuple[float, float]:
    """Requests per second, and the proxy's CPU milliseconds per request (steadier on a busy machine)."""
    cpu = paths.cpu_seconds(server.pids)
    rps = _throughput(server.url)
    return rps, (paths.cpu_seconds(server.pids) - cpu) * 1000 / N


def _throughput(url: str) -> float:
    """Requests per second for N chat completions over CONCURRENCY keep-alive connections."""
    host, port = url.removeprefix("http://").split(":")

    def worker(count: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        for _ in range(count):
            conn.request("POST", "/v1/chat/completions", body=BODY, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            assert response.status == 200

    began = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(worker, [N // CONCURRENCY] * CONCURRENCY))
    return N / (time.perf_counter() - began)


@pytest.mark.timeout(900)  # three proxies x four rounds on a shared machine
def test_tracing_throughput_ratio(
    benchmark: pytest.FixtureRequest,
    proxies: tuple[dict[str, paths.Server], dict[str, str]],
    report_line: Callable[[str, str], None],
) -> None:
    servers, sinks = proxies
    for mode in MODES:
        _run(servers[mode])  # warm all three

    def measure() -> dict[str, float]:
        runs: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
        for _ in range(ROUNDS):
            for mode in MODES:
                runs[mode].append(_run(servers[mode]))
        result = {f"{mode}_rps": statistics.median(r for r, _ in runs[mode]) for mode in MODES}
        return result | {f"{mode}_cpu_ms": statistics.median(c for _, c in runs[mode]) for mode in MODES}

    result = benchmark.pedantic(measure, rounds=1, iterations=1)  # type: ignore[attr-defined]
    served = N * (ROUNDS + 1)
    deadline = time.monotonic() + 15
    while (spans := _spans(sinks["on"])) < served and time.monotonic() < deadline:  # batches flush every 5 s
        time.sleep(0.2)
    sampled_spans = _spans(sinks["sampled"])
    assert spans >= served, "the traced proxy exported fewer spans than it served requests"
    assert 0 < sampled_spans < spans, "the sampled proxy exported no spans, or as many as the traced one"
    ratios = {mode: result[f"{mode}_rps"] / result["off_rps"] for mode in ("on", "sampled")}
    benchmark.extra_info.update({**result, "ratio": ratios["on"], "ratio_sampled": ratios["sampled"]})  # type: ignore[attr-defined]
    title = "Throughput with OpenTelemetry on vs off (same run)"
    report_line(
        title,
        f"N={N}, {CONCURRENCY} at once, median of {ROUNDS}: off {result['off_rps']:7.1f} req/s | "
        f"on {result['on_rps']:7.1f} req/s (ratio {ratios['on']:.3f}, {spans} spans) | "
        f"10 % sampled {result['sampled_rps']:7.1f} req/s (ratio {ratios['sampled']:.3f}, {sampled_spans} spans)",
    )
    report_line(
        title,
        f"proxy CPU per request (all its threads): off {result['off_cpu_ms']:.3f} ms | "
        f"on {result['on_cpu_ms']:.3f} ms | 10 % sampled {result['sampled_cpu_ms']:.3f} ms",
    )
    if BASELINE:
        before = result["baseline-on_rps"] / result["baseline-off_rps"]
        report_line(
            title,
            f"baseline {BASELINE}: off {result['baseline-off_rps']:7.1f} req/s | on {result['baseline-on_rps']:7.1f} "
            f"req/s (ratio {before:.3f}) | CPU per request off {result['baseline-off_cpu_ms']:.3f} ms | "
            f"on {result['baseline-on_cpu_ms']:.3f} ms",
        )
