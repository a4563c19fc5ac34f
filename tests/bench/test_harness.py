"""The benchmark harness on a tiny load: its own servers and client work, its report states the targets.

No timing is asserted here (speed is for ``make bench``); only that the parts
of the harness that ``make bench`` relies on answer, count and report.
"""

import http.server
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import load, paths, report, rounds, scaling, stream_client, sustain, targets
from bench.tools import debian_tool, vegeta


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


def _path(rps: float, p99: float, cpu: float, sustained: int, first_miss: int | None = None) -> dict[str, Any]:
    closed = {"rps": rps, "p99_ms": p99, "p50_ms": p99 / 2, "cpu_us_per_request": cpu, "errors": 0}
    slow = {"rps": rps / 2, "p50_ms": 61.0, "p99_ms": 70.0, "errors": 0}
    stream = {"ttft_p50_ms": 1.5, "total_p50_ms": 3.0, "errors": 0}
    runs = [{"rate": 100, "throughput": 100, "success": 1.0, "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0}]
    refine = [{"rate": sustained, "throughput": sustained, "success": 1.0, "p99_ms": 9.0, "missed": None}]
    opened = {"runs": runs, "refine": refine, "sustained_rps": sustained, "first_miss_rps": first_miss}
    return {"closed": closed, "closed_slow": slow, "stream": stream, "open": opened}


def _results() -> dict[str, Any]:
    return {
        "date": "2026-01-01T00:00:00+00:00",
        "mode": "full",
        "elapsed_s": 1.0,
        "machine": report.machine(),
        "versions": {"wrk": "x"},
        "settings": {"p99_bound_ms": 50, "tolerance": 0.05},
        "paths": {
            "direct": _path(4000, 10, 100, 3000),
            "nginx": _path(3600, 8, 30, 3000),
            "aiohttp": _path(2000, 20, 250, 2000, 2100),
            "switchboard-1w": _path(1800, 25, 300, 2000, 2080),
            "switchboard-2w": _path(1900, 25, 330, 2000, 2080),
            "litellm-1w": _path(100, 500, 5000, 50, 52),
        },
        "scaling": {"not_measured": "not measurable here: 2 cores (needs 4: ...)"},
        "routing_us": {"failover": {"3": 4.2}},
    }


def test_targets_are_ratios_to_the_paths_of_the_same_run_beside_the_floor_and_ceiling(tmp_path: Path) -> None:
    results = _results()
    results["targets"] = targets.targets(results)
    by_name = {row["target"]: row for row in results["targets"]}
    rps = by_name["1 worker, 0 ms upstream: req/s, x the aiohttp pass-through"]
    assert (rps["value"], rps["met"], rps["measured"], rps["reference_value"]) == (0.9, True, 1800, 2000)
    assert (rps["floor"], rps["ceiling"]) == (1.8, 1.0)  # nginx and aiohttp, x the same reference
    p99 = by_name["1 worker, 0 ms upstream: p99, x the aiohttp pass-through"]
    assert (p99["value"], p99["met"]) == (1.25, True)
    added = by_name["streaming: time to first token p50 added over the mock direct (ms)"]
    assert (added["value"], added["met"]) == (0.0, True)
    litellm_1w, litellm_2w = (row for name, row in by_name.items() if name.startswith("sustained req/s"))
    assert (litellm_1w["value"], litellm_1w["met"]) == (40, True)
    assert litellm_1w["note"] == (
        "switchboard-1w 2000 (missed 2080) vs litellm-1w 50 (missed 52); the true ratio lies within 38.5-41.6"
    )
    assert litellm_2w["met"] is None and litellm_2w["note"] == "not measured: litellm-2w not run"
    scaling = by_name["2 workers, x 1 worker: req/s, workers on cores of their own"]
    assert scaling["value"] is None and scaling["met"] is None  # never a ratio the machine cannot give
    assert scaling["note"].startswith("not measurable here: 2 cores")
    assert "2 workers x 1.06 of 1 worker's req/s, server CPU per request x 1.10" in scaling["note"]

    page = report.markdown(results, report.charts(results, tmp_path))
    assert "| switchboard-1w | 1800 | 0.90 |" in page
    assert "Each run lasts" not in page, "a results file from before the run length was a setting claims none"
    results["settings"] |= {"open_s": 2, "open_min_requests": 200, "open_max_s": 4}
    assert "Each run lasts 2 s, longer at a low rate to hold 200 requests (at most 4 s)" in report.markdown(results, [])
    assert "| 1 worker, 0 ms upstream: req/s, x the aiohttp pass-through | switchboard-1w: 1800 req/s " in page
    assert "| aiohttp: 2000 req/s | 0.900 | 1.80 | 1.00 | >= 0.80 | met |" in page
    assert "| litellm-1w | 50 (52) |" not in page and "| 50 (52) | 0 / 0 / 0 |" in page
    assert "| failover | 4.2 |" in page
    assert (tmp_path / "throughput.png").stat().st_size > 0
    assert (
        report.target_table(results)[2:]
        == report.summary(results).split("\n")[len(report.path_table(results)) + 4 : -2]
    )


def test_with_a_soak_litellm_and_the_sweep_are_compared_only_with_paths_measured_beside_the_same_soak(
    tmp_path: Path,
) -> None:
    """Paths measured alone and paths measured beside the soak never meet in one ratio."""
    results = _results()
    alone = results["paths"]
    beside = {
        name: _path(rps / 2, 40, 400, sustained // 2, sustained // 2 + 10)
        for name, rps, sustained in (
            ("direct", 3000, 3000),
            ("aiohttp", 1600, 2000),
            ("switchboard-1w", 1000, 1800),
            ("litellm-1w", 50, 60),
        )
    }
    for name in alone:
        del alone[name]["open"]
    del alone["litellm-1w"]
    results["beside_soak"] = {"paths": beside, "soak_load_throughout": True, "conditions": "beside the soak's steady"}
    by_name = {row["target"]: row for row in targets.targets(results)}
    rps = by_name["1 worker, 0 ms upstream: req/s, x the aiohttp pass-through"]
    assert (rps["measured"], rps["reference_value"]) == (1800, 2000)  # alone
    litellm_1w = next(row for name, row in by_name.items() if name.startswith("sustained req/s"))
    assert (litellm_1w["measured"], litellm_1w["reference_value"], litellm_1w["value"]) == (900, 30, 30)
    assert litellm_1w["note"].endswith("; both measured beside the soak")
    results["targets"] = list(by_name.values())
    page = report.markdown(results, report.charts(results, tmp_path))
    (alone_row,) = (ln for ln in report.path_table(results) if ln.startswith("| switchboard-1w | "))
    (beside_row,) = (ln for ln in report.beside_soak_table(results) if ln.startswith("| switchboard-1w | "))
    assert alone_row.startswith("| switchboard-1w | 1800 | 0.90 |") and alone_row.endswith("| - | 0 / 0 / 0 |")
    assert beside_row.startswith("| switchboard-1w | 500 | 0.62 |")  # x the aiohttp measured beside the soak
    assert beside_row.endswith("| 900 (910) | 0 / 0 / 0 |")
    assert "| litellm-1w | 25 | 0.03 |" in page and "Beside the soak (beside the soak's steady):" in page
    assert alone_row in page and beside_row in page
    assert any(ln.startswith("| litellm-1w | 100 | 100 |") for ln in report.open_table(results))


def test_every_other_round_takes_the_paths_in_reverse_order() -> None:
    order: list[str] = []
    servers = {name: paths.Server(name, ()) for name in ("a", "b", "c")}

    def run(url: str) -> dict[str, Any]:
        order.append(url)
        return {"rps": 1.0, "requests": 1}

    out = rounds.interleaved(servers, 3, run)
    assert order == ["a", "b", "c", "c", "b", "a", "a", "b", "c"]
    assert out["b"]["rounds"] == 3


def test_a_sustained_rate_that_lacks_litellm_is_a_lower_bound_and_a_pinned_scaling_run_is_a_ratio() -> None:
    results = _results()
    results["paths"]["litellm-1w"]["open"] |= {"sustained_rps": 0, "first_miss_rps": 1}
    results["scaling"] = {
        "workers_cores": [0, 1],
        "load_cores": [2, 3],
        "closed": {"direct": {"rps": 6000}, "switchboard-1w": {"rps": 1000}, "switchboard-2w": {"rps": 1800}},
    }
    by_name = {row["target"]: row for row in targets.targets(results)}
    litellm_1w = next(row for name, row in by_name.items() if name.startswith("sustained req/s"))
    assert litellm_1w["value"] == 2000 and "divided by its first miss, a lower bound" in litellm_1w["note"]
    scaling = by_name["2 workers, x 1 worker: req/s, workers on cores of their own"]
    assert (scaling["value"], scaling["met"], scaling["measured"]) == (1.8, True, 1800)
    assert scaling["note"].startswith(
        "workers on cores [0, 1], wrk and the mock on [2, 3]; the mock direct served 6000"
    )


def _open(
    rate: int, p99_ms: float, *, success: float = 1.0, achieved: float | None = None, errors: tuple[str, ...] = ()
) -> load.Open:
    codes = {"200": round(rate * success), "0": round(rate * (1 - success))}
    return load.Open(rate, 2, achieved or rate, success, p99_ms / 2, p99_ms, p99_ms, codes, list(errors))


NO_PORT = 'Post "http://127.0.0.1:1/v1/chat/completions": dial tcp 0.0.0.0:0->127.0.0.1:1: bind: address already in use'


def test_a_run_that_found_no_local_port_is_run_again_not_counted_against_the_path() -> None:
    runs = iter([_open(1000, 900, success=0.3, errors=(NO_PORT,)), _open(1000, 9)])
    out = sustain.search(["p"], lambda name, rate: next(runs), ladder=(1000,), tolerance=0.05, p99_bound_ms=50)
    first, second = out["p"]["runs"]
    assert first["missed"].startswith("the load generator found no free local port") and second["missed"] is None
    assert out["p"]["sustained_rps"] == 1000
    assert sustain.miss_reason(_open(10, 9, errors=(NO_PORT,)), p99_bound_ms=50) is not None, "never a pass"


def test_runs_hold_enough_requests_and_connections_are_bounded_above_what_a_pass_needs() -> None:
    seconds = {r: sustain.run_seconds(r, at_least_s=2, min_requests=200, at_most_s=4) for r in (10, 50, 80, 1000)}
    assert seconds == {10: 4, 50: 4, 80: 2.5, 1000: 2}
    assert (
        sustain.connection_cap((10, 3000), p99_bound_ms=50) == 300
        and sustain.connection_cap((10,), p99_bound_ms=50) == 64
    )


@contextmanager
def _slow_server(delay_s: float) -> Iterator[tuple[str, set[int]]]:
    """An HTTP/1.1 server answering every request after ``delay_s``; yields its URL and the client ports seen."""
    ports: set[int] = set()

    class Slow(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            ports.add(self.client_address[1])
            time.sleep(delay_s)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", ports
    finally:
        server.shutdown()
        server.server_close()


def test_vegeta_keeps_to_its_connection_cap_and_requests_beyond_it_wait_their_turn(tmp_path: Path) -> None:
    """60 requests in a second to a server that takes 100 ms need 6 connections at once; with 2 they queue."""
    with _slow_server(0.1) as (url, ports):
        targets = load.vegeta_targets(url, [load.chat_body(paths.FAST_MODEL)], tmp_path)
        run = load.vegeta(vegeta(), targets, rate=60, seconds=1, timeout_s=10, max_connections=2)
    assert run.success == 1.0 and run.status_codes == {"200": 60} and not run.load_generator_failed
    assert 1 <= len(ports) <= 2


def test_the_sustained_rate_is_bisected_between_the_last_pass_and_the_first_miss_to_the_tolerance() -> None:
    capacity = {"fast": 730, "slow": 52, "unbounded": 10**6}
    tried: list[tuple[str, int]] = []

    def attack(name: str, rate: int) -> load.Open:
        tried.append((name, rate))
        return _open(rate, 5 if rate <= capacity[name] else 900)

    out = sustain.search(list(capacity), attack, ladder=(10, 50, 100, 500, 1000), tolerance=0.05, p99_bound_ms=50)
    fast, slow, unbounded = out["fast"], out["slow"], out["unbounded"]
    assert fast["sustained_rps"] <= 730 < fast["first_miss_rps"] <= fast["sustained_rps"] * 1.05
    assert slow["sustained_rps"] <= 52 < slow["first_miss_rps"] <= slow["sustained_rps"] * 1.05
    assert [r["rate"] for r in fast["runs"]] == [10, 50, 100, 500, 1000]  # a path leaves the ladder at its miss
    assert [r["rate"] for r in slow["runs"]] == [10, 50, 100]
    assert [r["rate"] for r in fast["refine"]] == [750, 625, 687, 718]
    assert fast["refine"][0]["missed"] == "p99 900 ms" and fast["refine"][1]["missed"] is None
    assert (unbounded["sustained_rps"], unbounded["first_miss_rps"], unbounded["above_ladder"]) == (1000, None, True)
    assert unbounded["refine"] == []
    assert tried.index(("slow", 75)) < tried.index(("fast", 625))  # paths take turns at each bisection round


def test_a_rate_is_missed_for_failures_or_a_shortfall_as_much_as_for_latency_and_says_which() -> None:
    assert sustain.miss_reason(_open(100, 10), p99_bound_ms=50) is None
    failing = _open(1000, 10, success=0.99)
    assert sustain.miss_reason(failing, p99_bound_ms=50) == "success 99.00 % (no answer: 10, 200: 990)"
    short = _open(1000, 80, achieved=900)
    assert sustain.miss_reason(short, p99_bound_ms=50) == "achieved 900/s; p99 80 ms"


def test_a_bracket_narrows_to_the_tolerance_and_never_bisects_without_a_miss() -> None:
    assert sustain.Bracket(500, None).next_rate(0.05) is None
    assert sustain.Bracket(500, 1000).next_rate(0.05) == 750
    assert sustain.Bracket(500, 525).next_rate(0.05) is None
    assert sustain.Bracket(0, 10).after(5, sustained=False) == sustain.Bracket(0, 5)
    assert sustain.Bracket(0, 2).next_rate(0.05) == 1 and sustain.Bracket(0, 1).next_rate(0.05) is None
    assert sustain.Bracket(10, 20).after(15, sustained=True) == sustain.Bracket(15, 20)


def test_two_worker_scaling_is_measured_only_with_cores_for_the_workers_and_the_load() -> None:
    assert scaling.placement([0, 1]) == (
        "not measurable here: 2 cores (needs 4: 2 for the workers alone, 2 for wrk and the mock)"
    )
    assert scaling.placement([3, 1, 2, 0, 5]) == scaling.Placement(workers=(0, 1), load=(2, 3, 5))


def test_errors_are_summed_over_the_rounds_while_rates_are_medians() -> None:
    runs = [{"rps": 10.0, "errors": 0}, {"rps": 30.0, "errors": 4}, {"rps": 20.0, "errors": 1}]
    assert rounds.median_run(runs) == {"rounds": 3, "rps": 20.0, "errors": 5}


def test_pinned_servers_and_load_run_only_on_their_cores(tmp_path: Path) -> None:
    """``bench/scaling.py`` on this machine's cores (overlapping here: the placement refuses that in a run)."""
    where = scaling.Placement(workers=(0, 1), load=(1,))
    out = scaling.measure(debian_tool("wrk"), tmp_path, where, connections=4, seconds=1, rounds_=1)
    assert out["pinned"] == {"direct": ["1"], "switchboard-1w": ["0"], "switchboard-2w": ["0-1"]}
    assert all(out["closed"][name]["rps"] > 0 for name in out["pinned"])
