"""``make bench``: every path against the same mock, in one run, reported as ratios.

``python -m bench.run`` (full, under 15 minutes) or ``--quick`` (under 2): starts
the mock once, then each path in turn (mock direct, nginx, an aiohttp
pass-through, Switchboard, LiteLLM), measures closed-loop rate, open-loop
latency at fixed rates, streaming TTFT, then the soak and the routing engine;
writes ``bench/results/<date>.json`` and ``docs/benchmarks.md`` with its charts.

The two sides of every ratio are measured under the same conditions. The full
run has a 10-minute soak to fit beside its comparisons, and a steady load
beside a measurement does not slow every path alike (it cost Switchboard more
than the pass-through), so the comparisons come in two groups: the closed-loop
and streaming workloads of the proxies alone on the machine, as bench-quick
measures them; then, beside the soak's steady load only (never its warm-up or
idle minutes), the open-loop sweep of every path and LiteLLM with the paths its
ratios need. The routing engine runs in the soak's idle minute at the end.
"""

import argparse
import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import load, paths, reload, report, rounds, routing, scaling, soak, sustain, targets
from bench.tools import Tools, ensure_tools, versions
from hack.checkout import REPO_ROOT
from hack.cluster import ToolsMissingError


@dataclass(frozen=True)
class Settings:
    rounds: int
    """Each closed-loop and streaming run is repeated this many times, paths interleaved; medians reported."""
    closed_s: float
    stream_s: float
    open_s: float
    rates: tuple[int, ...]
    p99_bound_ms: float
    tolerance: float
    """The sustained rate is bisected until its first miss is within this fraction of its last pass."""
    soak_s: float
    reload_changes: int
    warm_up_s: float = 2
    open_min_requests: int = 200
    """An open-loop run lasts ``open_s`` or, at a low rate, long enough for this many requests (the p99 of a
    slow path, LiteLLM's 50/s, from 200 answers rather than 100) ..."""
    open_max_s: float = 4
    """... but no longer than this: the low rungs every fast path takes (10, 25/s) stay cheap."""
    connections: int = 32
    slow_connections: int = 128
    stream_concurrency: int = 16


FULL = Settings(
    rounds=3,
    closed_s=2,  # 3 s made 14.9 minutes at load 10-13 (the comparisons alone now come before the 10-minute soak)
    stream_s=2,
    open_s=2,
    rates=(10, 25, 50, 100, 250, 500, 1000, 2000, 3000),
    p99_bound_ms=50,
    tolerance=0.05,
    soak_s=600,
    reload_changes=50,
)
QUICK = Settings(
    rounds=1,
    closed_s=2,
    stream_s=1.5,
    open_s=1,
    rates=(100, 500, 2000),
    p99_bound_ms=50,
    tolerance=0.1,
    soak_s=0,
    reload_changes=0,
    warm_up_s=1,
)


def path_plan(tools: Tools, mock: paths.Server, quick: bool) -> list[tuple[str, paths.PathFactory]]:
    plan: list[tuple[str, paths.PathFactory]] = [
        ("direct", paths.direct(mock)),
        ("nginx", paths.nginx(tools.nginx)),
        ("aiohttp", paths.passthrough),
        ("switchboard-1w", paths.switchboard(workers=1, providers=1)),
        ("switchboard-2w", paths.switchboard(workers=2, providers=1)),
    ]
    if quick:
        return plan
    plan += [
        ("switchboard-1w-3p", paths.switchboard(workers=1, providers=3, strategy="least-latency")),
        ("switchboard-2w-3p", paths.switchboard(workers=2, providers=3, strategy="least-latency")),
    ]
    if tools.litellm is not None:
        plan += [
            ("litellm-1w", paths.litellm(tools.litellm, workers=1)),
            ("litellm-2w", paths.litellm(tools.litellm, workers=2)),
        ]
    return plan


def sweep(tools: Tools, servers: dict[str, paths.Server], settings: Settings, scratch: Path) -> dict[str, Any]:
    """Each path's sustained rate (``bench/sustain.py``): the ladder of rates, then a bisection per path."""
    targets = {
        name: load.vegeta_targets(server.url, [load.chat_body(paths.FAST_MODEL)], scratch / name)
        for name, server in servers.items()
    }
    cap = sustain.connection_cap(settings.rates, p99_bound_ms=settings.p99_bound_ms)

    def attack(name: str, rate: int) -> load.Open:
        seconds = sustain.run_seconds(
            rate, at_least_s=settings.open_s, min_requests=settings.open_min_requests, at_most_s=settings.open_max_s
        )
        return load.vegeta(tools.vegeta, targets[name], rate=rate, seconds=seconds, max_connections=cap)

    return sustain.search(
        list(servers),
        attack,
        ladder=settings.rates,
        tolerance=settings.tolerance,
        p99_bound_ms=settings.p99_bound_ms,
    )


@contextlib.contextmanager
def timed(what: str, into: dict[str, float]) -> Iterator[None]:
    """How long ``what`` took, into ``into`` and printed: where the run's minutes go."""
    began = time.monotonic()
    yield
    into[what] = round(time.monotonic() - began, 1)
    print(f"bench: {what}: {into[what]:.0f} s", flush=True)


LOOPED_BESIDE_SOAK = ("direct", "aiohttp", "switchboard-1w", "switchboard-2w", "litellm-1w", "litellm-2w")
"""Beside the soak, the closed-loop and streaming workloads run for LiteLLM and the paths its ratios need only
(the others were measured alone); the open-loop sweep runs for every path."""


def measure(
    plan: list[tuple[str, paths.PathFactory]],
    mock_url: str,
    tools: Tools,
    settings: Settings,
    scratch: Path,
    timings: dict[str, float],
    *,
    looped: Collection[str] | None = None,
    open_loop: bool = True,
    ready: Callable[[], None] = lambda: None,
    label: str = "",
) -> dict[str, dict[str, Any]]:
    """Every path running at once (idle while another is measured), each workload interleaved.

    ``looped``: the paths that take the closed-loop and streaming workloads (None: all); ``open_loop``: whether
    every path also takes the open-loop sweep; ``ready()`` is called once the paths are up and warm, before
    anything is measured (to wait for the conditions the group is measured under).
    """
    prefix = f"{label}: " if label else ""
    with contextlib.ExitStack() as stack:
        servers: dict[str, paths.Server] = {}
        c, s = settings.connections, settings.closed_s
        with timed(f"{prefix}start and warm up", timings):
            for name, factory in plan:
                (scratch / name).mkdir(parents=True, exist_ok=True)
                servers[name] = stack.enter_context(factory(mock_url, scratch / name))
            for server in servers.values():  # warm up: pools, caches, lazy imports, first-request paths
                load.wrk(tools.wrk, server.url, paths.FAST_MODEL, connections=c, seconds=settings.warm_up_s)
        ready()
        results: dict[str, dict[str, Any]] = {name: {} for name in servers}
        loop = {n: server for n, server in servers.items() if looped is None or n in looped}
        with timed(f"{prefix}closed loop, 0 ms", timings):
            closed = rounds.interleaved(
                loop,
                settings.rounds,
                lambda url: load.wrk(tools.wrk, url, paths.FAST_MODEL, connections=c, seconds=s).as_dict(),
            )
        with timed(f"{prefix}closed loop, 60 ms", timings):
            slow = rounds.interleaved(
                loop,
                settings.rounds,
                lambda url: load.wrk(
                    tools.wrk, url, paths.SLOW_MODEL, connections=settings.slow_connections, seconds=s
                ).as_dict(),
            )
        with timed(f"{prefix}streaming", timings):
            stream = rounds.interleaved(
                loop,
                settings.rounds,
                lambda url: load.stream(
                    url, paths.STREAM_MODEL, concurrency=settings.stream_concurrency, seconds=settings.stream_s
                ),
            )
        for name in loop:
            results[name] |= {"closed": closed[name], "closed_slow": slow[name], "stream": stream[name]}
        if open_loop:
            with timed(f"{prefix}open loop: ladder and bisection", timings):
                for name, opened in sweep(tools, servers, settings, scratch).items():
                    results[name]["open"] = opened
    print(f"bench: {label or 'paths'}", flush=True)
    for name, r in results.items():
        closed_run, opened = r.get("closed", {}), r.get("open", {})
        print(
            f"  {name:<24} {closed_run.get('rps') or float('nan'):6.0f} req/s  "
            f"p99 {closed_run.get('p99_ms') or float('nan'):6.1f} ms  "
            f"CPU {closed_run.get('cpu_us_per_request') or float('nan'):5.0f} us/req  "
            f"sustained {opened.get('sustained_rps', '-')} req/s (first miss {opened.get('first_miss_rps') or '-'})",
            flush=True,
        )
    return results


def await_event(event: threading.Event, soaking: concurrent.futures.Future[Any]) -> None:
    """Until ``event`` is set, or the soak has ended (its error then surfaces from ``soaking.result()``)."""
    while not event.wait(1.0) and not soaking.done():
        pass


def wait_steady(phases: soak.Phases, soaking: concurrent.futures.Future[Any], timings: dict[str, float]) -> None:
    with timed("beside the soak: waiting for its steady load (its warm-up and idle minute)", timings):
        await_event(phases.loaded, soaking)


def beside_the_soak(
    plan: list[tuple[str, paths.PathFactory]],
    mock_url: str,
    tools: Tools,
    settings: Settings,
    scratch: Path,
    timings: dict[str, float],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The soak, with the open-loop sweep (every path) and LiteLLM's comparisons beside its steady load, then
    hot reload, then the routing engine in the soak's idle minute at the end; (group results, extra results)."""
    phases = soak.Phases()
    extra: dict[str, Any] = {}
    with concurrent.futures.ThreadPoolExecutor(1) as background:
        soaking = background.submit(soak.run, tools, scratch, seconds=settings.soak_s, phases=phases)
        measured = measure(
            plan,
            mock_url,
            tools,
            settings,
            scratch / "beside-soak",
            timings,
            looped=LOOPED_BESIDE_SOAK,
            ready=lambda: wait_steady(phases, soaking, timings),
            label="beside the soak",
        )
        steady = phases.loaded.is_set() and not phases.unloaded.is_set()
        if settings.reload_changes:
            extra["reload"] = hot_reload(settings, timings)
        await_event(phases.unloaded, soaking)
        with timed("routing decision time", timings):
            extra["routing_us"] = routing.decision_times(quick=False)
        with timed("rest of the soak", timings):
            extra["soak"] = soaking.result()
    group = {
        "paths": measured,
        "soak_load_throughout": steady,
        "conditions": f"beside the soak's steady {soak.SOAK_RATE} req/s (a separate proxy and mock)"
        + ("" if steady else "; NOT throughout: the soak's load stopped before these measurements ended"),
    }
    return group, extra


def hot_reload(settings: Settings, timings: dict[str, float]) -> dict[str, Any]:
    try:
        with timed("hot reload", timings):
            return reload.run(changes=settings.reload_changes)
    except ToolsMissingError as e:  # make bench builds them (make tools); a bare run may lack them
        print(f"bench: hot reload not measured: {e}", file=sys.stderr)
        return {"not_measured": str(e)}


def two_workers(tools: Tools, settings: Settings, scratch: Path, timings: dict[str, float]) -> dict[str, Any]:
    """2 workers against 1 on cores of their own (``bench/scaling.py``), or why this machine cannot tell."""
    where = scaling.placement(scaling.available_cores())
    if isinstance(where, str):
        print(f"bench: 2-worker scaling {where}", flush=True)
        return {"not_measured": where}
    with timed("2-worker scaling, pinned", timings):
        seconds = max(round(settings.closed_s), 1)  # wrk takes whole seconds
        return scaling.measure(
            tools.wrk, scratch, where, connections=settings.connections, seconds=seconds, rounds_=settings.rounds
        )


def baseline_checkout(revision: str, scratch: Path) -> Path:
    """The tree of ``revision`` (``git archive``), to run beside the working tree's code."""
    target = scratch / f"baseline-{revision}"
    target.mkdir()
    archive = subprocess.run(["git", "archive", revision], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def render(results_file: Path) -> int:
    results = json.loads(results_file.read_text())
    results["targets"] = targets.targets(results)
    print(report.summary(results))
    report.write(results, results_file)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer paths, shorter runs, no soak (under 2 minutes)")
    parser.add_argument("--only", action="append", default=[], help="measure only these paths (repeatable)")
    parser.add_argument("--soak-seconds", type=float, help="override the soak length (0: no soak)")
    parser.add_argument("--reload-changes", type=int, help="override the hot-reload changes (0: skip it)")
    parser.add_argument("--rounds", type=int, help="override the rounds of each closed-loop and streaming run")
    parser.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="REV",
        help="also measure Switchboard (1 worker) at git revision REV, for before/after (repeatable)",
    )
    parser.add_argument("--no-write", action="store_true", help="print results, write no files")
    parser.add_argument(
        "--render",
        type=Path,
        metavar="RESULTS_JSON",
        help="measure nothing: the targets, docs/benchmarks.md and its charts again from a results file",
    )
    args = parser.parse_args(argv)
    if args.render:
        return render(args.render)
    settings = QUICK if args.quick else FULL
    if args.soak_seconds is not None:
        settings = dataclasses.replace(settings, soak_s=args.soak_seconds)
    if args.reload_changes is not None:
        settings = dataclasses.replace(settings, reload_changes=args.reload_changes)
    if args.rounds is not None:
        settings = dataclasses.replace(settings, rounds=args.rounds)
    began = time.monotonic()
    tools = ensure_tools(litellm=not args.quick)
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "machine": report.machine(),
        "versions": versions(tools),
        "settings": settings.__dict__,
        "paths": {},
    }
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="switchboard-bench-") as tmp:
        scratch = Path(tmp)
        with paths.mock(scratch) as mock:
            plan = [(n, f) for n, f in path_plan(tools, mock, args.quick) if not args.only or n in args.only]
            baselines = [
                (
                    f"switchboard-1w@{rev}",
                    paths.switchboard(workers=1, providers=1, checkout=baseline_checkout(rev, scratch)),
                )
                for rev in args.baseline
            ]
            if settings.soak_s:
                # Nothing else of the bench runs beside these: the ratios to the mock, nginx and the pass-through.
                alone = [(n, f) for n, f in plan if not n.startswith("litellm")] + baselines
                results["paths"] = measure(
                    alone, mock.url, tools, settings, scratch, timings, open_loop=False, label="alone"
                )
                results["beside_soak"], extra = beside_the_soak(plan, mock.url, tools, settings, scratch, timings)
                results |= extra
            else:
                results["paths"] = measure(plan + baselines, mock.url, tools, settings, scratch, timings)
        if not settings.soak_s:
            with timed("routing decision time", timings):
                results["routing_us"] = routing.decision_times(quick=args.quick)
            if settings.reload_changes:
                results["reload"] = hot_reload(settings, timings)
        # After the soak: its load must not fall on the workers' own cores.
        results["scaling"] = two_workers(tools, settings, scratch, timings)
    results["phases_s"] = timings
    results["elapsed_s"] = round(time.monotonic() - began, 1)
    results["machine"]["load_average_at_end"] = report.machine()["load_average_at_start"]
    results["targets"] = targets.targets(results)
    print(report.summary(results))
    if not args.no_write:
        report.write(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
