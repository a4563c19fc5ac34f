"""The benchmark harness on a tiny load: its own servers and client work, its report states the targets.

No timing is asserted here (speed is for ``make bench``); only that the parts
of the harness that ``make bench`` relies on answer, count and report.
"""

from pathlib import Path
from typing import Any

from bench import load, paths, report, stream_client


def test_the_pass_through_and_switchboard_stream_the_mock_and_the_client_counts_ttft(tmp_path: Path) -> None:
    with paths.mock(tmp_path) as mock:
        with paths.passthrough(mock.url, tmp_path) as ceiling:
            through = load.stream(ceiling.url, paths.STREAM_MODEL, concurrency=2, seconds=0.5)
        with paths.switchboard(workers=1, providers=3, strategy="least-latency")(mock.url, tmp_path) as proxy:
            proxied = load.stream(proxy.url, paths.SLOW_MODEL, concurrency=2, seconds=0.5)
            assert paths.cpu_seconds(proxy.pids) > 0
    for result in (through, proxied):
        assert result["streams"] > 0 and result["errors"] == 0
        assert 0 < result["ttft_p50_ms"] <= result["total_p50_ms"]
    assert proxied["ttft_p50_ms"] >= paths.SLOW_MS  # the slow model really waited upstream
    # The first token, not the role-only preamble the mock sends at once, and more tokens after it.
    assert paths.STREAM_TOKEN_MS <= through["ttft_p50_ms"] < through["total_p50_ms"] - paths.STREAM_TOKEN_MS


def test_the_stream_client_finds_the_first_event_with_content_however_the_bytes_are_split() -> None:
    role = b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\r\n\r\n'
    token = b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\r\n\r\n'
    stream = b": keep-alive\n\n" + role + token
    for cut in range(1, len(stream)):
        scanner = stream_client.FirstToken()
        scanner.feed(stream[:cut])
        assert not scanner.seen  # the token event ends with the last byte
        scanner.feed(stream[cut:])
        assert scanner.seen
    tool = b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c"}]}}]}\n\n'
    assert stream_client.carries_token(tool.strip()) and not stream_client.carries_token(role.strip())


def _path(rps: float, p99: float, cpu: float, sustained: int) -> dict[str, Any]:
    closed = {"rps": rps, "p99_ms": p99, "p50_ms": p99 / 2, "cpu_us_per_request": cpu}
    slow = {"rps": rps / 2, "p50_ms": 61.0, "p99_ms": 70.0}
    stream = {"ttft_p50_ms": 1.5, "total_p50_ms": 3.0}
    runs = [{"rate": 100, "throughput": 100, "success": 1.0, "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0}]
    return {"closed": closed, "closed_slow": slow, "stream": stream, "open": {"runs": runs, "sustained_rps": sustained}}


def test_targets_are_ratios_to_the_paths_of_the_same_run_and_the_page_lists_them(tmp_path: Path) -> None:
    results: dict[str, Any] = {
        "date": "2026-01-01T00:00:00+00:00",
        "mode": "quick",
        "elapsed_s": 1.0,
        "machine": report.machine(),
        "versions": {"wrk": "x"},
        "settings": {"p99_bound_ms": 50},
        "paths": {
            "direct": _path(4000, 10, 100, 3000),
            "aiohttp": _path(2000, 20, 250, 2000),
            "switchboard-1w": _path(1800, 25, 300, 2000),
            "litellm-1w": _path(100, 500, 5000, 50),
        },
        "routing_us": {"failover": {"3": 4.2}},
    }
    results["targets"] = report.targets(results)
    by_name = {row["target"]: row for row in results["targets"]}
    assert by_name["1 worker, 0 ms upstream: req/s vs aiohttp pass-through"]["value"] == 0.9
    assert by_name["1 worker, 0 ms upstream: req/s vs aiohttp pass-through"]["met"] is True
    assert by_name["1 worker, 0 ms upstream: p99 vs aiohttp pass-through"]["value"] == 1.25
    litellm_1w, litellm_2w = (row for name, row in by_name.items() if name.startswith("sustained req/s vs LiteLLM"))
    assert litellm_1w["value"] == 40
    assert litellm_2w["met"] is None  # not measured: not claimed
    page = report.markdown(results, report.charts(results, tmp_path))
    assert "| switchboard-1w | 1800 | 0.90 |" in page
    assert "| failover | 4.2 |" in page
    assert (tmp_path / "throughput.png").stat().st_size > 0
