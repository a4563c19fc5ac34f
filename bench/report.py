"""Ratios, targets, the Markdown page and its charts, from one run's results."""

import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from bench import paths
from bench.targets import CEILING, DIRECT, FLOOR, diff, get, ratio, sweep_view
from hack.checkout import REPO_ROOT

RESULTS_DIR = REPO_ROOT / "bench" / "results"
DOC = REPO_ROOT / "docs" / "benchmarks.md"
CHART_DIR = REPO_ROOT / "docs" / "benchmarks"
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


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def path_table(results: Results) -> list[str]:
    ceiling_rps = get(results, CEILING, "closed", "rps")
    ceiling_p99 = get(results, CEILING, "closed", "p99_ms")
    direct_slow = get(results, DIRECT, "closed_slow", "rps")
    ceiling_cpu = get(results, CEILING, "closed", "cpu_us_per_request")
    lines = [
        "| path | req/s (0 ms) | x aiohttp | p99 ms | p99 x aiohttp | CPU us/req | x aiohttp | req/s (60 ms, 128 c) "
        "| x direct | p50 added ms | TTFT p50 added ms | sustained req/s (first miss) "
        "| errors (0 ms / 60 ms / stream) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in results["paths"]:
        rps, p99 = get(results, name, "closed", "rps"), get(results, name, "closed", "p99_ms")
        slow = get(results, name, "closed_slow", "rps")
        added = diff(get(results, name, "closed_slow", "p50_ms"), get(results, DIRECT, "closed_slow", "p50_ms"))
        ttft = diff(get(results, name, "stream", "ttft_p50_ms"), get(results, DIRECT, "stream", "ttft_p50_ms"))
        cpu = get(results, name, "closed", "cpu_us_per_request")
        cells = [_fmt(rps, 0), _fmt(ratio(rps, ceiling_rps)), _fmt(p99, 1), _fmt(ratio(p99, ceiling_p99))]
        cells += [_fmt(cpu, 0), _fmt(ratio(cpu, ceiling_cpu))]
        cells += [
            _fmt(slow, 0),
            _fmt(ratio(slow, direct_slow)),
            _fmt(added),
            _fmt(ttft),
            _sustained_cell(results, name),
        ]
        errors = (get(results, name, workload, "errors") for workload in ("closed", "closed_slow", "stream"))
        cells.append(" / ".join(_fmt(e, 0) for e in errors))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _open_run_length(settings: dict[str, Any]) -> list[str]:
    """How long each open-loop run lasted and on how many connections (results from before these were settings
    say nothing of it)."""
    if "open_min_requests" not in settings:
        return []
    return [
        f"Each run lasts {settings['open_s']:g} s, longer at a low rate to hold {settings['open_min_requests']} "
        f"requests (at most {settings['open_max_s']:g} s); vegeta keeps a bounded number of connections, so a path",
        "it overloads cannot use up the local ports of the runs after it.",
    ]


def _sustained_cell(results: Results, name: str) -> str:
    passed, missed = get(results, name, "open", "sustained_rps"), get(results, name, "open", "first_miss_rps")
    if passed is None:
        return "-"
    return f"{passed:.0f} ({_fmt(missed, 0)})" if missed is not None else f">= {passed:.0f} (none)"


def open_table(results: Results) -> list[str]:
    """Added latency (vs the mock direct at the same rate) per path and ladder rate, and why a rate was missed."""
    results = sweep_view(results)
    direct = {run["rate"]: run for run in results["paths"].get(DIRECT, {}).get("open", {}).get("runs", [])}
    lines = [
        "| path | rate | achieved | success | p50 added ms | p95 added ms | p99 added ms | missed because |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, data in results["paths"].items():
        for run in data.get("open", {}).get("runs", []):
            base = direct.get(run["rate"])
            added = [diff(run[k], base[k]) if base else None for k in ("p50_ms", "p95_ms", "p99_ms")]
            lines.append(
                f"| {name} | {run['rate']:g} | {run['throughput']:.0f} | {run['success'] * 100:.1f} % "
                f"| {_fmt(added[0])} | {_fmt(added[1])} | {_fmt(added[2])} | {run.get('missed') or ''} |"
            )
    return lines


def bisection_table(results: Results) -> list[str]:
    """Each path's bisection between its last passing and first missed ladder rate: every rate tried."""
    results = sweep_view(results)
    lines = ["| path | rates tried (p99 ms; x: missed) | sustained req/s | first miss | that miss because |"]
    lines.append("|---|---|---|---|---|")
    for name, data in results["paths"].items():
        opened = data.get("open", {})
        tried = [
            f"{r['rate']:g} ({r['p99_ms']:.0f}{'' if r.get('missed') is None else ' x'})"
            for r in opened.get("refine", [])
        ]
        miss = opened.get("first_miss_rps")
        why = next(
            (r.get("missed") for r in opened.get("runs", []) + opened.get("refine", []) if r["rate"] == miss), None
        )
        lines.append(
            f"| {name} | {', '.join(tried) or 'none'} | {_fmt(get(results, name, 'open', 'sustained_rps'), 0)} "
            f"| {_fmt(miss, 0)} | {why or '-'} |"
        )
    return lines


def target_table(results: Results) -> list[str]:
    """Every target: Switchboard's figure, what it is compared with, the ratio, and the floor's and ceiling's."""
    lines = [
        "| target | Switchboard | compared with | value | nginx (floor) | aiohttp (ceiling) | bound | met | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["targets"]:
        met = "not measured" if row["met"] is None else ("met" if row["met"] else "**missed**")
        unit = row["unit"]
        digits = 1 if unit == "ms" else 0
        measured = "-" if row["measured"] is None else f"{row['measured']:.{digits}f} {unit}"
        reference = "-" if row["reference_value"] is None else f"{row['reference_value']:.{digits}f} {unit}"
        cells = [row["target"], f"{row['subject']}: {measured}", f"{row['reference']}: {reference}"]
        cells += [_fmt(row["value"], 3), _fmt(row["floor"]), _fmt(row["ceiling"]), row["bound"], met, row["note"] or ""]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def machine_line(results: Results) -> str:
    m = results["machine"]
    return (
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}, kernel {m['kernel']}; "
        f"load average at start {m['load_average_at_start']}, at end {m.get('load_average_at_end', '?')}."
    )


def beside_soak_table(results: Results) -> list[str]:
    """The paths measured beside the soak (none when the run had no soak), ratios to that group's references."""
    group = results.get("beside_soak")
    if group is None:
        return []
    return [f"Beside the soak ({group['conditions']}):", "", *path_table(sweep_view(results))]


def summary(results: Results) -> str:
    """What ``make bench`` and ``make bench-quick`` print: the paths, then every target, then the machine."""
    head = f"{results['mode']} run, {results['elapsed_s']:.0f} s"
    beside = beside_soak_table(results)
    tables = ["", *path_table(results), *(["", *beside] if beside else []), "", *target_table(results)]
    return "\n".join([*tables, "", f"{head}. {machine_line(results)}"])


def charts(results: Results, directory: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    names = list(results["paths"])
    ceiling = get(results, CEILING, "closed", "rps")
    out: list[Path] = []

    fig, ax = plt.subplots(figsize=(8, 4))
    ratios = [ratio(get(results, n, "closed", "rps"), ceiling) or 0 for n in names]
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
    swept = sweep_view(results)["paths"]
    direct = {r["rate"]: r["p99_ms"] for r in swept.get(DIRECT, {}).get("open", {}).get("runs", [])}
    for name in swept:
        runs = [r for r in swept[name].get("open", {}).get("runs", []) if r["rate"] in direct]
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
    v = results["versions"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`python -m bench.run`); do not edit by hand. Every figure is a ratio to a",
        "server measured in the same run on the same machine: the mock upstream called directly, nginx `proxy_pass`",
        "(the floor for any proxy), a minimal aiohttp pass-through (`bench/passthrough.py`, the ceiling for an",
        "aiohttp proxy), Switchboard and LiteLLM's proxy, all in front of the same mock process.",
        "",
        f"Run {results['date']} ({results['mode']}, {results['elapsed_s']:.0f} s). {machine_line(results)}",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".",
        "",
        "Load: wrk (closed loop, 1 thread), vegeta (open loop at fixed rates), `bench/stream_client.py` for time to",
        "first token (the first event carrying content; the mock streams one token every",
        f"{paths.STREAM_TOKEN_MS} ms, like a real model). Settings: `{json.dumps(results['settings'])}`.",
        "",
        "How to read it: every closed-loop and streaming figure is the median of the rounds, the paths taking",
        "turns within each round (in reverse order every other round), so a change in the machine's load falls on",
        "all of them alike; error counts are summed over the rounds. Compare ratios within this run, not absolute",
        "numbers across runs. *CPU us/req* is the server's own user+system CPU time per answered request (from",
        "`/proc`, workers included); its inverse is the rate the server reaches on a core of its own.",
        "",
        "*Same conditions for both sides of a ratio*: a steady background load does not slow every path alike, so",
        "no ratio mixes figures measured under different loads. The closed-loop and streaming figures of the",
        "proxies (the *Paths* table) are measured with nothing else of the bench running, as `make bench-quick`",
        "does. The 10-minute soak (a steady 100 req/s on a separate proxy and mock, about a quarter of a core)",
        "must share the 15 minutes with something: beside its steady load (not its warm-up or idle minutes) run",
        "the open-loop sweep of every path and LiteLLM's comparisons with the paths its ratios need, in a second",
        "table whose ratios are to that table's own references; hot reload runs beside it too, the routing engine",
        "in its idle minute at the end. A `switchboard-1w@REV` row is the same proxy at an earlier revision",
        "(`--baseline REV`).",
        "`python -m bench.run --render bench/results/<date>.json` writes this page again from a results file.",
        "",
        "*Sustained rate*: the highest open-loop arrival rate a path serves with p99 within "
        f"{results['settings']['p99_bound_ms']:g} ms, at least 99.9 % 2xx",
        "and at least 95 % of the rate achieved. Every path climbs the same ladder of rates; then the rate is",
        "bisected between its last pass and its first miss until the miss is within "
        f"{results['settings'].get('tolerance', 0) * 100:g} % of the pass, so a",
        "ratio of sustained rates is known to that precision (each tried rate is listed below).",
        *_open_run_length(results["settings"]),
        "",
        "*LiteLLM* runs from PyPI in its own virtualenv, with the same worker count as the Switchboard path it is",
        "compared with, in front of the same mock: callbacks and telemetry off, no database (spend and error logs",
        "off), `LITELLM_LOG=ERROR` (so uvicorn's access log is off too, while Switchboard keeps its access log,",
        "metrics and cost on), `set_verbose` off, `LITELLM_MODE=PRODUCTION`, uvloop (its default) with `httptools`",
        "for uvicorn's fast HTTP parser, and the OpenTelemetry SDK of its `proxy-runtime` extra (without it, each",
        "request retries a failing import): the performance items of its production checklist",
        "(docs.litellm.ai/docs/proxy/prod); no master key, as no path here checks a key; retries at its default",
        "(2), as Switchboard keeps its own (3; LiteLLM's benchmark page turns them off). Its failures (timeouts,",
        "non-2xx) count like any path's: see the errors column and the reasons of each missed rate.",
        "",
        "*Two workers*: on a machine where wrk and the mock share the proxy's cores, a second worker only takes CPU",
        "from them, so 2 workers ~= 1 worker there says nothing. The target is measured only with the workers on",
        "cores of their own (`taskset`: 1 worker on one core, 2 workers on two, wrk and the mock on two others);",
        "with fewer than 4 cores it is reported as not measurable, beside the unpinned ratio and the server CPU per",
        "request of 2 workers against 1 (near 1: the workers add no per-request cost, so they scale with cores).",
        "",
        "## Targets",
        "",
        *target_table(results),
        "",
        "## Paths",
        "",
        *path_table(results),
        "",
        *beside_soak_table(results),
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
        "## Sustained rate: the bisection between the last pass and the first miss",
        "",
        *bisection_table(results),
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
            f"model whose every stream the mock cuts). Idle: {soak.get('idle_s', 3):g} s after a load stopped (the "
            "upstream pool's idle connections closed); halves: under load.",
            "",
            "| | start | idle after warm-up | first half (median) | second half (median) | idle at end | max |",
            "|---|---|---|---|---|---|---|",
            "| RSS MiB | " + " | ".join(str(soak[f"{k}_rss_mib"]) for k in _SOAK_COLUMNS) + " |",
            "| open fds | " + " | ".join(str(soak[f"{k}_fds"]) for k in _SOAK_COLUMNS) + " |",
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


def write(results: Results, path: Path | None = None) -> Path:
    """The results file (``bench/results/<date>.json`` unless ``path``), the page and its charts."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = path or RESULTS_DIR / f"{results['date'][:10]}.json"
    path.write_text(json.dumps(results, indent=1) + "\n")
    chart_files = charts(results, CHART_DIR)
    DOC.write_text(markdown(results, chart_files))
    return path


def git_commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or "?"
