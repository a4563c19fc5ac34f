"""Proxy overhead over calling the mock upstream directly (same machine, one run).

Both servers run as real subprocesses (the mock CLI and the proxy CLI); the
client is a keep-alive ``http.client`` connection so its own cost stays small.
``make bench`` prints pytest-benchmark's table and, in the summary, p50/p99 for
N sequential and N concurrent requests, direct and through the proxy.
"""

import http.client
import json
import re
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from hack.checkout import checkout_env, python_module

N = 500
CONCURRENCY = 16
BODY = json.dumps({"model": "mock-model", "messages": [{"role": "user", "content": "benchmark this short prompt"}]})
_URL = re.compile(rb"(http://127\.0\.0\.1:\d+)")


def _start(module: str, *args: str) -> tuple[subprocess.Popen[bytes], str]:
    process = subprocess.Popen(python_module(module, *args), env=checkout_env(), stdout=subprocess.PIPE)
    assert process.stdout is not None
    match = _URL.search(process.stdout.readline())
    assert match, "server did not start"
    return process, match.group(1).decode()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    mock, mock_url = _start("switchboard.mock", "--port", "0")
    config = {
        "providers": [
            {"name": "mock", "type": "openai", "baseUrl": mock_url + "/v1", "models": [{"name": "mock-model"}]}
        ],
        "profiles": [{"name": "bench", "models": ["mock-model"], "providers": [{"name": "mock"}]}],
    }
    path = tmp_path_factory.mktemp("bench") / "proxy.yaml"
    path.write_text(yaml.safe_dump(config))
    proxy, proxy_url = _start(
        "switchboard.proxy.cli", "--config", str(path), "--host", "127.0.0.1", "--port", "0", "--log-level", "WARNING"
    )
    _wait_ready(proxy_url)
    yield mock_url, proxy_url
    for process in (proxy, mock):
        process.terminate()
        process.wait(15)


def _wait_ready(url: str) -> None:
    for _ in range(300):
        try:
            conn = _connection(url)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError("proxy not ready")


def _connection(url: str) -> http.client.HTTPConnection:
    host, port = url.removeprefix("http://").split(":")
    return http.client.HTTPConnection(host, int(port), timeout=30)


def _chat(conn: http.client.HTTPConnection) -> float:
    began = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body=BODY, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    assert response.status == 200
    return time.perf_counter() - began


def _percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49] * 1000, cuts[98] * 1000


def _sequential(url: str) -> list[float]:
    conn = _connection(url)
    _chat(conn)  # warm the connection
    return [_chat(conn) for _ in range(N)]


def _concurrent(url: str) -> list[float]:
    def worker(count: int) -> list[float]:
        conn = _connection(url)
        return [_chat(conn) for _ in range(count)]

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        chunks = pool.map(worker, [N // CONCURRENCY] * CONCURRENCY)
    return [s for chunk in chunks for s in chunk]


def test_direct_mock(benchmark: pytest.FixtureRequest, servers: tuple[str, str]) -> None:
    conn = _connection(servers[0])
    benchmark(_chat, conn)  # type: ignore[operator]


def test_through_proxy(benchmark: pytest.FixtureRequest, servers: tuple[str, str]) -> None:
    conn = _connection(servers[1])
    benchmark(_chat, conn)  # type: ignore[operator]


def test_overhead_percentiles(
    benchmark: pytest.FixtureRequest, servers: tuple[str, str], report_line: Callable[[str, str], None]
) -> None:
    """p50/p99 of N requests direct vs through the proxy; timed as one pedantic round."""
    mock_url, proxy_url = servers

    def measure() -> dict[str, dict[str, float]]:
        report = {}
        for mode, run in (("sequential", _sequential), ("concurrent", _concurrent)):
            direct, proxied = _percentiles(run(mock_url)), _percentiles(run(proxy_url))
            report[mode] = {
                "direct_p50_ms": direct[0],
                "direct_p99_ms": direct[1],
                "proxy_p50_ms": proxied[0],
                "proxy_p99_ms": proxied[1],
            }
        return report

    report = benchmark.pedantic(measure, rounds=1, iterations=1)  # type: ignore[attr-defined]
    benchmark.extra_info.update(report)  # type: ignore[attr-defined]
    for mode, r in report.items():
        overhead = (r["proxy_p50_ms"] - r["direct_p50_ms"], r["proxy_p99_ms"] - r["direct_p99_ms"])
        label = f"{mode} (N={N}" + (f", {CONCURRENCY} at once)" if mode == "concurrent" else ")")
        report_line(
            "Proxy overhead over calling the mock directly (ms)",
            f"{label:<31} direct p50 {r['direct_p50_ms']:6.2f} p99 {r['direct_p99_ms']:6.2f} | "
            f"proxy p50 {r['proxy_p50_ms']:6.2f} p99 {r['proxy_p99_ms']:6.2f} | "
            f"overhead p50 {overhead[0]:6.2f} p99 {overhead[1]:6.2f}",
        )
