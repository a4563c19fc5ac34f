"""Runs repeated in rounds, the paths taking turns within each round; medians per path."""

import math
import statistics
from collections.abc import Callable
from typing import Any

from bench import paths

SUMMED = ("errors",)
"""Counted over every round, not medianed: one round's failures must not vanish behind two clean ones."""


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each field's median over the rounds (the runs of one path), ``SUMMED`` fields' total; None where no
    round measured it."""
    keys = [k for k, v in runs[0].items() if v is None or isinstance(v, int | float)]
    out: dict[str, Any] = {"rounds": len(runs)}
    for key in keys:
        values = [run[key] for run in runs if isinstance(run.get(key), int | float) and not math.isnan(run[key])]
        out[key] = (sum(values) if key in SUMMED else statistics.median(values)) if values else None
    return out


def interleaved(servers: dict[str, paths.Server], rounds: int, run: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """``run(url)`` ``rounds`` times per path, one path after the other in each round, so that
    the shared machine's changing load falls on every path alike; medians per path.

    Every other round goes through the paths in reverse order, so that no path always runs just after
    (or before) the same neighbour: a load that drifts within a round falls on both sides of a ratio alike.

    Each run also gets the server's CPU time per request (``cpu_us_per_request``): unlike
    rates and latencies, it hardly depends on what else the machine is running.
    """
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
    for round_ in range(rounds):
        order = list(servers.items())
        for name, server in order if round_ % 2 == 0 else reversed(order):
            before = paths.cpu_seconds(server.pids)
            result = run(server.url)
            used = paths.cpu_seconds(server.pids) - before
            count = result.get("requests") or result.get("streams") or 0
            runs[name].append(result | {"cpu_us_per_request": used / count * 1e6 if count else None})
    return {name: median_run(r) for name, r in runs.items()}
