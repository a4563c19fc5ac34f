"""Throughput of the proxy with OpenTelemetry on (traces and GenAI metrics to an OTLP endpoint) versus off.

Same run, same mock upstream, two proxy processes started alike except for
``OTEL_EXPORTER_OTLP_ENDPOINT``; rounds alternate off/on so machine noise hits
both. The OTLP endpoint is a small HTTP receiver in this process that decodes
every export with the official protobuf definitions and counts the spans, so
the exporter does its full work. ``make bench`` prints the ratio in its summary.
"""

import http.client
import json
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench.test_proxy_overhead import _start, _wait_ready
from hack.checkout import checkout_env, python_module

N = 800
CONCURRENCY = 16
ROUNDS = 3
BODY = json.dumps({"model": "mock-model", "messages": [{"role": "user", "content": "benchmark this short prompt"}]})


class _Sink(BaseHTTPRequestHandler):
    spans = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/v1/traces":
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            count = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
            with _Sink.lock:
                _Sink.spans += count
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def proxies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
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
    endpoint = f"http://127.0.0.1:{sink.server_address[1]}"
    on = subprocess.Popen(
        python_module("switchboard.proxy.cli", *args),
        env=checkout_env({"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}),
        stdout=subprocess.PIPE,
    )
    assert on.stdout is not None
    on_url = on.stdout.readline().decode().split("listening on ")[1].strip()
    for url in (off_url, on_url):
        _wait_ready(url)
    yield off_url, on_url
    for process in (on, off, mock):
        process.terminate()
        process.wait(15)
    sink.shutdown()


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
    benchmark: pytest.FixtureRequest, proxies: tuple[str, str], report_line: Callable[[str, str], None]
) -> None:
    off_url, on_url = proxies
    _throughput(off_url), _throughput(on_url)  # warm both

    def measure() -> dict[str, float]:
        off, on = [], []
        for _ in range(ROUNDS):
            off.append(_throughput(off_url))
            on.append(_throughput(on_url))
        return {"off_rps": statistics.median(off), "on_rps": statistics.median(on)}

    result = benchmark.pedantic(measure, rounds=1, iterations=1)  # type: ignore[attr-defined]
    ratio = result["on_rps"] / result["off_rps"]
    benchmark.extra_info.update({**result, "ratio": ratio})  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while _Sink.spans < N and time.monotonic() < deadline:  # the batch exporter flushes every 5 s
        time.sleep(0.2)
    assert _Sink.spans >= N, "the traced proxy exported fewer spans than it served requests"
    report_line(
        "Throughput with OpenTelemetry on vs off (same run)",
        f"N={N}, {CONCURRENCY} at once, median of {ROUNDS}: off {result['off_rps']:7.1f} req/s | "
        f"on {result['on_rps']:7.1f} req/s | ratio on/off {ratio:.3f} | spans received {_Sink.spans}",
    )
