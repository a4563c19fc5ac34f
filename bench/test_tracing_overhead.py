"""Throughput of the proxy with OpenTelemetry on (traces and GenAI metrics to an OTLP endpoint) versus off.

Same run, same mock upstream, two proxy processes started alike except for
``OTEL_EXPORTER_OTLP_ENDPOINT``; rounds alternate off/on so machine noise hits
both. The OTLP endpoint (``bench/otlp_sink.py``, its own process so decoding never
competes with the load generator) decodes every export with the official
protobuf definitions and counts the spans, so the exporter does its full work.
``make bench`` prints the ratio in its summary.
"""

import http.client
import json
import os
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from bench.test_proxy_overhead import _start, _wait_ready
from hack.checkout import checkout_env, python_module

N = 800
CONCURRENCY = 16
ROUNDS = 3
BODY = json.dumps({"model": "mock-model", "messages": [{"role": "user", "content": "benchmark this short prompt"}]})


Proxy = tuple[str, int]  # URL, process id


@pytest.fixture(scope="module")
def proxies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proxy, Proxy, str]]:
    sink, sink_url = _start("bench.otlp_sink")
    mock, mock_url = _start("switchboard.mock", "--port", "0")
    config = {
        "providers": [
            {"name": "mock", "type": "openai", "baseUrl": mock_url + "/v1", "models": [{"name": "mock-model"}]}
        ],
        "profiles": [{"name": "bench", "models": ["mock-model"], "providers": [{"name": "mock"}]}],
    }
    path = tmp_path_factory.mktemp("bench-otel") / "proxy.yaml"
    path.write_text(yaml.safe_dump(config))
    args = ("--config", str(path), "--host", "127.0.0.1", "--port", "0", "--log-level", "WARNING")
    off, off_url = _start("switchboard.proxy.cli", *args)
    on = subprocess.Popen(
        python_module("switchboard.proxy.cli", *args),
        env=checkout_env({"OTEL_EXPORTER_OTLP_ENDPOINT": sink_url, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}),
        stdout=subprocess.PIPE,
    )
    assert on.stdout is not None
    on_url = on.stdout.readline().decode().split("listening on ")[1].strip()
    for url in (off_url, on_url):
        _wait_ready(url)
    yield (off_url, off.pid), (on_url, on.pid), sink_url
    for process in (on, off, mock, sink):
        process.terminate()
        process.wait(15)


def _spans(sink_url: str) -> int:
    host, port = sink_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/count")
    return int(conn.getresponse().read())


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its threads (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run(proxy: Proxy) -> tuple[float, float]:
    """Requests per second, and the proxy's CPU milliseconds per request (steadier on a busy machine)."""
    url, pid = proxy
    cpu = _cpu_seconds(pid)
    rps = _throughput(url)
    return rps, (_cpu_seconds(pid) - cpu) * 1000 / N


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


def test_tracing_throughput_ratio(
    benchmark: pytest.FixtureRequest, proxies: tuple[Proxy, Proxy, str], report_line: Callable[[str, str], None]
) -> None:
    off_proxy, on_proxy, sink_url = proxies
    _run(off_proxy), _run(on_proxy)  # warm both

    def measure() -> dict[str, float]:
        off, on = [], []
        for _ in range(ROUNDS):
            off.append(_run(off_proxy))
            on.append(_run(on_proxy))
        return {
            "off_rps": statistics.median(r for r, _ in off),
            "on_rps": statistics.median(r for r, _ in on),
            "off_cpu_ms": statistics.median(c for _, c in off),
            "on_cpu_ms": statistics.median(c for _, c in on),
        }

    result = benchmark.pedantic(measure, rounds=1, iterations=1)  # type: ignore[attr-defined]
    ratio = result["on_rps"] / result["off_rps"]
    benchmark.extra_info.update({**result, "ratio": ratio})  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while (spans := _spans(sink_url)) < N and time.monotonic() < deadline:  # the batch exporter flushes every 5 s
        time.sleep(0.2)
    assert spans >= N, "the traced proxy exported fewer spans than it served requests"
    report_line(
        "Throughput with OpenTelemetry on vs off (same run)",
        f"N={N}, {CONCURRENCY} at once, median of {ROUNDS}: off {result['off_rps']:7.1f} req/s | "
        f"on {result['on_rps']:7.1f} req/s | ratio on/off {ratio:.3f} | spans received {spans}",
    )
    report_line(
        "Throughput with OpenTelemetry on vs off (same run)",
        f"proxy CPU per request (all its threads): off {result['off_cpu_ms']:.3f} ms | "
        f"on {result['on_cpu_ms']:.3f} ms | ratio off/on {result['off_cpu_ms'] / result['on_cpu_ms']:.3f}",
    )
