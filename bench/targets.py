"""Every target of issue #13, from one run's results: what was measured, against what, and whether it is met.

Each target compares a Switchboard path with a reference path of the same run
(a ratio or a difference). Beside it stands the same figure for the floor
(nginx) and the ceiling (the aiohttp pass-through), so a reader sees where
Switchboard sits between them. A target that could not be measured says why
and claims nothing.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CEILING, DIRECT, FLOOR = "aiohttp", "direct", "nginx"
SB1, SB2 = "switchboard-1w", "switchboard-2w"
Results = dict[str, Any]
Metric = Callable[[Results, str], float | None]


def get(results: Results, path: str, *keys: str) -> float | None:
    node: Any = results["paths"].get(path)
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return float(node) if isinstance(node, int | float) else None


def sweep_view(results: Results) -> Results:
    """The results the open-loop sweep's figures come from: the group measured beside the soak when the run had
    one (the sweep ran there, for every path), else the run's only group."""
    group = results.get("beside_soak")
    return results if group is None else results | {"paths": group["paths"]}


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def metric(*keys: str) -> Metric:
    return lambda results, path: get(results, path, *keys)


def sustained(results: Results, path: str) -> float | None:
    """A path's sustained rate; one that sustained no rate at all counts as its first miss (a lower bound)."""
    rate = get(results, path, "open", "sustained_rps")
    return get(results, path, "open", "first_miss_rps") if rate == 0 else rate


@dataclass(frozen=True)
class Target:
    name: str
    subject: str
    reference: str
    measure: Metric
    combine: Callable[[float | None, float | None], float | None]
    unit: str
    bound: str
    check: Callable[[float], bool]
    beside: bool = True
    """Also give the floor's and the ceiling's figure (False where they mean nothing: worker counts)."""

    def row(self, results: Results) -> dict[str, Any]:
        reference = self.measure(results, self.reference)
        measured = self.measure(results, self.subject)

        def against(path: str) -> float | None:
            return _round(self.combine(self.measure(results, path), reference)) if self.beside else None

        value = self.combine(measured, reference)
        return {
            "target": self.name,
            "subject": self.subject,
            "measured": _round(measured),
            "reference": self.reference,
            "reference_value": _round(reference),
            "unit": self.unit,
            "value": _round(value),
            "floor": against(FLOOR),
            "ceiling": against(CEILING),
            "bound": self.bound,
            "met": None if value is None else self.check(value),
            "note": None if value is not None else f"not measured: no {self.subject} or {self.reference} figure",
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


TARGETS = (
    Target(
        "1 worker, 0 ms upstream: req/s, x the aiohttp pass-through",
        SB1,
        CEILING,
        metric("closed", "rps"),
        ratio,
        "req/s",
        ">= 0.80",
        lambda v: v >= 0.80,
    ),
    Target(
        "1 worker, 0 ms upstream: p99, x the aiohttp pass-through",
        SB1,
        CEILING,
        metric("closed", "p99_ms"),
        ratio,
        "ms",
        "<= 1.5",
        lambda v: v <= 1.5,
    ),
    Target(
        "60 ms upstream, 128 connections: req/s, x the mock direct",
        SB1,
        DIRECT,
        metric("closed_slow", "rps"),
        ratio,
        "req/s",
        ">= 0.95",
        lambda v: v >= 0.95,
    ),
    Target(
        "60 ms upstream, 128 connections: p50 added over the mock direct (ms)",
        SB1,
        DIRECT,
        metric("closed_slow", "p50_ms"),
        diff,
        "ms",
        "<= 2",
        lambda v: v <= 2,
    ),
    Target(
        "streaming: time to first token p50 added over the mock direct (ms)",
        SB1,
        DIRECT,
        metric("stream", "ttft_p50_ms"),
        diff,
        "ms",
        "<= 1",
        lambda v: v <= 1,
    ),
    Target(
        "sustained req/s (open loop, p99 within the bound), 1 worker, x LiteLLM 1 worker",
        SB1,
        "litellm-1w",
        sustained,
        ratio,
        "req/s",
        ">= 30",
        lambda v: v >= 30,
    ),
    Target(
        "sustained req/s (open loop, p99 within the bound), 2 workers, x LiteLLM 2 workers",
        SB2,
        "litellm-2w",
        sustained,
        ratio,
        "req/s",
        ">= 30",
        lambda v: v >= 30,
    ),
)


def _sustained_note(results: Results, subject: str, reference: str) -> str | None:
    """The brackets behind a sustained-rate ratio: it is known to the bisection's precision, no better."""
    if reference not in results["paths"]:
        return f"not measured: {reference} not run" + (" (bench-quick runs no LiteLLM)" if _quick(results) else "")

    def bracket(path: str) -> str:
        passed, missed = get(results, path, "open", "sustained_rps"), get(results, path, "open", "first_miss_rps")
        if missed is None:
            return f"{path} >= {passed:.0f} (passed every rate tried)"
        return f"{path} {passed:.0f} (missed {missed:.0f})"

    note = f"{bracket(subject)} vs {bracket(reference)}"
    if get(results, reference, "open", "sustained_rps") == 0:
        return note + f"; {reference} sustained no rate: divided by its first miss, a lower bound"
    lowest = ratio(get(results, subject, "open", "sustained_rps"), get(results, reference, "open", "first_miss_rps"))
    highest = ratio(get(results, subject, "open", "first_miss_rps"), get(results, reference, "open", "sustained_rps"))
    if lowest is not None and highest is not None:
        note += f"; the true ratio lies within {lowest:.1f}-{highest:.1f}"
    return note


def _quick(results: Results) -> bool:
    return bool(results.get("mode") == "quick")


def scaling_row(results: Results) -> dict[str, Any]:
    """2 workers vs 1 on cores of their own (``bench/scaling.py``), or why this machine cannot measure it."""
    scaling = results.get("scaling") or {"not_measured": "not run"}
    rps, cpu = metric("closed", "rps"), metric("closed", "cpu_us_per_request")
    shared = (
        "unpinned, on cores shared with wrk and the mock (not the target): 2 workers x "
        f"{_fmt(ratio(rps(results, SB2), rps(results, SB1)))} of 1 worker's req/s, "
        f"server CPU per request x {_fmt(ratio(cpu(results, SB2), cpu(results, SB1)))}"
    )
    row: dict[str, Any] = {
        "target": "2 workers, x 1 worker: req/s, workers on cores of their own",
        "subject": f"{SB2} (pinned)",
        "reference": f"{SB1} (pinned)",
        "unit": "req/s",
        "floor": None,
        "ceiling": None,
        "bound": ">= 1.7",
    }
    if "not_measured" in scaling:
        unmeasured = {"measured": None, "reference_value": None, "value": None, "met": None}
        return row | unmeasured | {"note": f"{scaling['not_measured']}; {shared}"}
    closed = scaling["closed"]
    one, two = closed[SB1]["rps"], closed[SB2]["rps"]
    value = ratio(two, one)
    note = (
        f"workers on cores {scaling['workers_cores']}, wrk and the mock on {scaling['load_cores']}; "
        f"the mock direct served {_fmt(closed['direct']['rps'], 0)} req/s there; {shared}"
    )
    return row | {
        "measured": _round(two),
        "reference_value": _round(one),
        "value": _round(value),
        "met": None if value is None else value >= 1.7,
        "note": note,
    }


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def soak_rows(results: Results) -> list[dict[str, Any]]:
    soak = results.get("soak")
    if not soak:
        return []
    rows = []
    for what, unit in (("RSS", "rss_mib"), ("open descriptors", "fds")):
        end, warm = soak[f"idle_at_end_{unit}"], soak[f"idle_after_warm_up_{unit}"]
        value = ratio(end, warm)
        rows.append(
            {
                "target": f"soak: {what} idle at the end, x idle after the warm-up",
                "subject": "switchboard-1w-3p (soak, idle at the end)",
                "measured": end,
                "reference": "the same, idle after the warm-up",
                "reference_value": warm,
                "unit": "MiB" if unit == "rss_mib" else "fds",
                "value": _round(value),
                "floor": None,
                "ceiling": None,
                "bound": "0.9-1.1",
                "met": None if value is None else 0.9 <= value <= 1.1,
                "note": f"{soak['seconds']:.0f} s at {soak['rate']} req/s; max under load {soak[f'max_{unit}']}",
            }
        )
    return rows


def targets(results: Results) -> list[dict[str, Any]]:
    """Every target of the issue: measured value, reference, ratio, floor and ceiling, met (None: not measured)."""
    rows = []
    for target in TARGETS:
        if target.measure is sustained:
            view = sweep_view(results)
            row = target.row(view)
            row["note"] = _sustained_note(view, target.subject, target.reference)
            if "beside_soak" in results and row["note"] and row["value"] is not None:
                row["note"] += "; both measured beside the soak"
        else:
            row = target.row(results)
        rows.append(row)
    rows.append(scaling_row(results))
    return rows + soak_rows(results)
