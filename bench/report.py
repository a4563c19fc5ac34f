"""Ratios, targets, the Markdown page and its charts, from one run's results."""

import json
import os
import platform
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import paths
from hack.checkout import REPO_ROOT

RESULTS_DIR = REPO_ROOT / "bench" / "results"
DOC = REPO_ROOT / "docs" / "benchmarks.md"
CHART_DIR = REPO_ROOT / "docs" / "benchmarks"
CEILING, DIRECT, FLOOR = "aiohttp", "direct", "nginx"
Results = dict[str, Any]
_SOAK_COLUMNS = ("start", "idle_after_warm_up", "first_half", "second_half", "idle_at_end", "max")


def machine() -> dict[str, Any]:
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln),
        platform.processor(),
    )
    mem_kib = int(
        next(ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal"))
    )
    load = Path("/proc/loadavg").read_text().split()[:3]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1),
        "kernel": platform.release(),
        "os": _os_name(),
        "load_average_at_start": " ".join(load),
    }


def _os_name() -> str:
    try:
        fields = dict(ln.split("=", 1) for ln in Path("/etc/os-release").read_text().splitlines() if "=" in ln)
        return fields.get("PRETTY_NAME", "?").strip('"')
    except OSError:
        return platform.system()


def _get(results: Results, path: str, *keys: str) -> float | None:
    node: Any = results["paths"].get(path)
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return float(node) if isinstance(node, int | float) else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _sustained_floor(results: Results, path: str) -> float | None:
    """A path's sustained rate; one that sustained no rate at all counts as the lowest rate tried."""
    sustained = _get(results, path, "open", "sustained_rps")
    runs = results["paths"].get(path, {}).get("open", {}).get("runs", [])
    return float(min(r["rate"] for r in runs)) if sustained == 0 and runs else sustained


def targets(results: Results) -> list[dict[str, Any]]:
    """Every target of the issue: measured value, bound, and whether it is met (None: not measured)."""
    sb1, sb2 = "switchboard-1w", "switchboard-2w"
    rows: list[tuple[str, float | None, str, Callable[[float], bool]]] = [
        (
            "1 worker, 0 ms upstream: req/s vs aiohttp pass-through",
            _ratio(_get(results, sb1, "closed", "rps"), _get(results, CEILING, "closed", "rps")),
            ">= 0.80",
            lambda v: v >= 0.80,
        ),
        (
            "1 worker, 0 ms upstream: p99 vs aiohttp pass-through",
            _ratio(_get(results, sb1, "closed", "p99_ms"), _get(results, CEILING, "closed", "p99_ms")),
            "<= 1.5",
            lambda v: v <= 1.5,
        ),
        (
            "60 ms upstream, 128 connections: req/s vs direct",
            _ratio(_get(results, sb1, "closed_slow", "rps"), _get(results, DIRECT, "closed_slow", "rps")),
            ">= 0.95",
            lambda v: v >= 0.95,
        ),
        (
            "60 ms upstream: p50 added (ms)",
            _diff(_get(results, sb1, "closed_slow", "p50_ms"), _get(results, DIRECT, "closed_slow", "p50_ms")),
            "<= 2",
            lambda v: v <= 2,
        ),
        (
            "streaming: TTFT p50 added (ms)",
            _diff(_get(results, sb1, "stream", "ttft_p50_ms"), _get(results, DIRECT, "stream", "ttft_p50_ms")),
            "<= 1",
            lambda v: v <= 1,
        ),
        (
            "sustained req/s vs LiteLLM, 1 worker (LiteLLM at 0: over the lowest rate, a lower bound)",
            _ratio(_get(results, sb1, "open", "sustained_rps"), _sustained_floor(results, "litellm-1w")),
            ">= 30",
            lambda v: v >= 30,
        ),
        (
            "sustained req/s vs LiteLLM, 2 workers (LiteLLM at 0: over the lowest rate, a lower bound)",
            _ratio(_get(results, sb2, "open", "sustained_rps"), _sustained_floor(results, "litellm-2w")),
            ">= 30",
            lambda v: v >= 30,
        ),
        (
            "2 workers vs 1 worker req/s (needs >= 3 cores: wrk and the mock share them)",
            _ratio(_get(results, sb2, "closed", "rps"), _get(results, sb1, "closed", "rps")),
            ">= 1.7",
            lambda v: v >= 1.7,
        ),
    ]
    soak = results.get("soak")
    if soak:
        for what, unit in (("RSS", "rss_mib"), ("descriptors", "fds")):
            rows.append(
                (
                    f"soak: {what}, idle at the end / idle after the warm-up",
                    _ratio(soak[f"idle_at_end_{unit}"], soak[f"idle_after_warm_up_{unit}"]),
                    "0.9-1.1",
                    lambda v: 0.9 <= v <= 1.1,
                )
            )
    return [
        {
            "target": name,
            "value": None if v is None else round(v, 3),
            "bound": bound,
            "met": None if v is None else check(v),
        }
        for name, v, bound, check in rows
    ]


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def path_table(results: Results) -> list[str]:
    ceiling_rps = _get(results, CEILING, "closed", "rps")
    ceiling_p99 = _get(results, CEILING, "closed", "p99_ms")
    direct_slow = _get(results, DIRECT, "closed_slow", "rps")
    ceiling_cpu = _get(results, CEILING, "closed", "cpu_us_per_request")
    lines = [
        "| path | req/s (0 ms) | x aiohttp | p99 ms | p99 x aiohttp | CPU us/req | x aiohttp | req/s (60 ms, 128 c) "
        "| x direct | p50 added ms | TTFT p50 added ms | sustained req/s (p99 <= bound) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in results["paths"]:
        rps, p99 = _get(results, name, "closed", "rps"), _get(results, name, "closed", "p99_ms")
        slow = _get(results, name, "closed_slow", "rps")
        added = _diff(_get(results, name, "closed_slow", "p50_ms"), _get(results, DIRECT, "closed_slow", "p50_ms"))
        ttft = _diff(_get(results, name, "stream", "ttft_p50_ms"), _get(results, DIRECT, "stream", "ttft_p50_ms"))
        sustained = _get(results, name, "open", "sustained_rps")
        cpu = _get(results, name, "closed", "cpu_us_per_request")
        cells = [_fmt(rps, 0), _fmt(_ratio(rps, ceiling_rps)), _fmt(p99, 1), _fmt(_ratio(p99, ceiling_p99))]
        cells += [_fmt(cpu, 0), _fmt(_ratio(cpu, ceiling_cpu))]
        cells += [_fmt(slow, 0), _fmt(_ratio(slow, direct_slow)), _fmt(added), _fmt(ttft), _fmt(sustained, 0)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def open_table(results: Results) -> list[str]:
    """Added latency (vs the mock direct at the same rate) per path and rate."""
    direct = {run["rate"]: run for run in results["paths"].get(DIRECT, {}).get("open", {}).get("runs", [])}
    lines = [
        "| path | rate | achieved | success | p50 added ms | p95 added ms | p99 added ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, data in results["paths"].items():
        for run in data.get("open", {}).get("runs", []):
            base = direct.get(run["rate"])
            added = [_diff(run[k], base[k]) if base else None for k in ("p50_ms", "p95_ms", "p99_ms")]
            lines.append(
                f"| {name} | {run['rate']:g} | {run['throughput']:.0f} | {run['success'] * 100:.1f} % "
                f"| {_fmt(added[0])} | {_fmt(added[1])} | {_fmt(added[2])} |"
            )
    return lines


def summary(results: Results) -> str:
    lines = ["", *path_table(results), "", "| target | value | bound | met |", "|---|---|---|---|"]
    for row in results["targets"]:
        met = "-" if row["met"] is None else ("yes" if row["met"] else "**no**")
        lines.append(f"| {row['target']} | {_fmt(row['value'], 3)} | {row['bound']} | {met} |")
    return "\n".join(lines)


def charts(results: Results, directory: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    names = list(results["paths"])
    ceiling = _get(results, CEILING, "closed", "rps")
    out: list[Path] = []

    fig, ax = plt.subplots(figsize=(8, 4))
    ratios = [_ratio(_get(results, n, "closed", "rps"), ceiling) or 0 for n in names]
    ax.barh(names, ratios, color=["#888" if n in (DIRECT, FLOOR, CEILING) else "#2a6" for n in names])
    ax.axvline(0.8, color="red", linestyle="--", label="target for 1 worker: 0.8")
    ax.set_xlabel("requests/s as a ratio to the aiohttp pass-through (closed loop, 0 ms upstream)")
    ax.invert_yaxis()
    ax.legend(loc="lower right")
    fig.tight_layout()
    out.append(directory / "throughput.png")
    fig.savefig(out[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4))
    direct = {r["rate"]: r["p99_ms"] for r in results["paths"].get(DIRECT, {}).get("open", {}).get("runs", [])}
    for name in names:
        runs = [r for r in results["paths"][name].get("open", {}).get("runs", []) if r["rate"] in direct]
        if name != DIRECT and runs:
            ax.plot([r["rate"] for r in runs], [r["p99_ms"] - direct[r["rate"]] for r in runs], marker="o", label=name)
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1)
    ax.set_xlabel("arrival rate (requests/s, open loop)")
    ax.set_ylabel("p99 added over the mock direct (ms)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    out.append(directory / "open-loop.png")
    fig.savefig(out[-1], dpi=100)
    plt.close(fig)

    soak = results.get("soak")
    if soak and soak["samples"]:
        fig, ax = plt.subplots(figsize=(8, 3))
        t = [s[0] for s in soak["samples"]]
        ax.plot(t, [s[1] / soak["first_half_rss_mib"] for s in soak["samples"]], label="RSS / first half's median")
        ax.plot(t, [s[2] / soak["first_half_fds"] for s in soak["samples"]], label="fds / first half's median")
        ax.axhspan(0.9, 1.1, color="green", alpha=0.1)
        ax.set_xlabel("seconds into the soak")
        ax.legend()
        fig.tight_layout()
        out.append(directory / "soak.png")
        fig.savefig(out[-1], dpi=100)
        plt.close(fig)
    return out


def _routing_table(results: Results) -> list[str]:
    times = results.get("routing_us") or {}
    sizes = sorted({int(n) for by in times.values() for n in by})
    lines = ["| strategy | " + " | ".join(f"{n} candidates" for n in sizes) + " |", "|---" * (len(sizes) + 1) + "|"]
    for strategy, by in sorted(times.items()):
        lines.append(f"| {strategy} | " + " | ".join(_fmt(by.get(str(n)), 1) for n in sizes) + " |")
    return lines


def markdown(results: Results, chart_files: list[Path]) -> str:
    m, v = results["machine"], results["versions"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`python -m bench.run`); do not edit by hand. Every figure is a ratio to a",
        "server measured in the same run on the same machine: the mock upstream called directly, nginx `proxy_pass`",
        "(the floor for any proxy), a minimal aiohttp pass-through (`bench/passthrough.py`, the ceiling for an",
        "aiohttp proxy), Switchboard and LiteLLM's proxy, all in front of the same mock process.",
        "",
        f"Run {results['date']} ({results['mode']}, {results['elapsed_s']:.0f} s) on {m['cpu']}, {m['cores']} cores, "
        f"{m['memory_gib']} GiB, {m['os']}, kernel {m['kernel']}; load average at start {m['load_average_at_start']}.",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".",
        "",
        "Load: wrk (closed loop, 1 thread), vegeta (open loop at fixed rates), `bench/stream_client.py` for time to",
        "first token (the first event carrying content; the mock streams one token every",
        f"{paths.STREAM_TOKEN_MS} ms, like a real model). Settings: `{json.dumps(results['settings'])}`.",
        "",
        "How to read it: every closed-loop and streaming figure is the median of the rounds, the paths taking",
        "turns within each round, so a change in the machine's load falls on all of them alike. Compare ratios",
        "within this run, not absolute numbers across runs. *CPU us/req* is the server's own user+system CPU",
        "time per answered request (from `/proc`, workers included): it hardly depends on what else runs, and",
        "its inverse is the rate the server reaches on a core of its own. The soak runs beside the",
        "comparisons (a steady 100 req/s on a separate proxy and mock) so that `make bench` fits in 15 minutes.",
        "A `switchboard-1w@REV` row is the same proxy at an earlier revision (`--baseline REV`): before/after.",
        "",
        "## Targets",
        "",
        *summary(results).split("\n")[len(path_table(results)) + 2 :],
        "",
        "## Paths",
        "",
        *path_table(results),
        "",
        *[f"![{p.stem}](benchmarks/{p.name})" for p in chart_files],
        "",
        "## Open loop: latency added over the mock direct at each rate",
        "",
        "Each path is driven at increasing rates until it first misses the bound (p99 over "
        f"{results['settings']['p99_bound_ms']:g} ms, under 99.9 % success, or under 95 % of the rate achieved).",
        "",
        *open_table(results),
        "",
    ]
    soak = results.get("soak")
    if soak:
        lines += [
            "## Soak",
            "",
            f"{soak['seconds']:.0f} s at {soak['rate']} req/s (streaming and not, 5 % upstream failures retried, one "
            f"stream in 21 cut by the mock), Switchboard 1 worker, 3 providers; {soak['success'] * 100:.1f} % "
            f"answered 200 (status codes: {soak.get('status_codes', {})}: a 503 is the circuit breaker refusing the "
            "model whose every stream the mock cuts). Idle: 3 s after a load stopped; halves: under load.",
            "",
            "| | start | idle after warm-up | first half (median) | second half (median) | idle at end | max |",
            "|---|---|---|---|---|---|---|",
            "| RSS MiB | "
            + " | ".join(str(soak[f"{k}_rss_mib"]) for k in ("start", "first_half", "second_half", "end", "max"))
            + " |",
            "| open fds | "
            + " | ".join(str(soak[f"{k}_fds"]) for k in ("start", "first_half", "second_half", "end", "max"))
            + " |",
            "",
        ]
    if results.get("reload") and "p50_ms" in results["reload"]:
        r = results["reload"]
        lines += [
            "## Hot reload",
            "",
            f"{r['changes']} `kubectl apply` changes, {r['replicas']} proxy replicas: "
            f"every replica serving the new config after p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms.",
            "",
        ]
    lines += ["## Routing decision time (`Router.plan` median, us)", "", *_routing_table(results), ""]
    return "\n".join(lines)


def write(results: Results) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{results['date'][:10]}.json"
    path.write_text(json.dumps(results, indent=1) + "\n")
    chart_files = charts(results, CHART_DIR)
    DOC.write_text(markdown(results, chart_files))
    return path


def git_commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or "?"
