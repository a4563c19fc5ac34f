"""The highest arrival rate each path sustains: a ladder of rates shared by every path, then a bisection per path.

A rate is sustained when an open-loop run at that rate (vegeta) answers at least
99.9 % of requests with a 2xx, achieves at least 95 % of the rate, and keeps p99
within the bound. The ladder (the same rates for every path, lowest first) gives
the latency-at-each-rate table; a path leaves it at its first miss. The ladder's
steps are coarse (500 -> 1000), so the rate is then bisected between the path's
last pass and its first miss until that bracket is within a tolerance of the
pass: the sustained rate is known to that precision, not to the ladder's step.
Bisection assumes a path that misses a rate misses every higher one; each tried
rate and why it missed are kept in the results, so a noisy step shows.

Each run lasts long enough to hold ``min_requests`` (a slow path's p99 is then
not its second-worst answer), and vegeta keeps a bounded number of connections
(``connection_cap``) so an overloaded path cannot use up the machine's local
ports for the runs after it. A run that failed for want of a local port all the
same measured the load generator, not the path: it is run once more.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench import load

MIN_SUCCESS = 0.999
MIN_ACHIEVED = 0.95


def miss_reason(run: load.Open, *, p99_bound_ms: float) -> str | None:
    """Why ``run`` does not sustain its rate (None: it does), in words a reader can check against the run."""
    reasons = []
    if run.load_generator_failed:
        reasons.append("the load generator found no free local port to connect from")
    if run.success < MIN_SUCCESS:
        counts = sorted(run.status_codes.items())
        codes = ", ".join(f"{'no answer' if code == '0' else code}: {n}" for code, n in counts)
        reasons.append(f"success {run.success * 100:.2f} % ({codes})")
    if run.throughput < MIN_ACHIEVED * run.rate:
        reasons.append(f"achieved {run.throughput:.0f}/s")
    if run.p99_ms > p99_bound_ms:
        reasons.append(f"p99 {run.p99_ms:.0f} ms")
    return "; ".join(reasons) or None


@dataclass(frozen=True)
class Bracket:
    """What is known of a path's sustained rate: the highest rate it passed and the lowest it missed."""

    passed: int = 0
    """0: no rate passed yet."""
    missed: int | None = None
    """None: no rate missed yet (the sustained rate is at least ``passed``)."""

    def after(self, rate: int, *, sustained: bool) -> "Bracket":
        if sustained:
            return Bracket(max(self.passed, rate), self.missed)
        return Bracket(self.passed, rate if self.missed is None else min(self.missed, rate))

    def next_rate(self, tolerance: float) -> int | None:
        """The rate to try next (the bracket's middle), or None once it is narrow enough or has no upper end.

        Narrow enough: the miss within ``tolerance`` of the pass (or 1 request/s apart when nothing passed).
        """
        if self.missed is None or self.missed - self.passed <= max(tolerance * self.passed, 1):
            return None
        return (self.passed + self.missed) // 2


def run_seconds(rate: float, *, at_least_s: float, min_requests: int, at_most_s: float) -> float:
    """How long a run at ``rate`` lasts: ``at_least_s``, longer to hold ``min_requests``, never over ``at_most_s``."""
    return max(at_least_s, min(min_requests / rate, at_most_s))


def connection_cap(ladder: tuple[int, ...], *, p99_bound_ms: float) -> int:
    """Connections vegeta may keep open: twice what any rate that passes needs (each request answered
    within the bound: ``rate x bound`` in flight at the ladder's top), at least 64."""
    return max(64, math.ceil(2 * max(ladder) * p99_bound_ms / 1000))


Attack = Callable[[str, int], load.Open]
"""(path name, rate) -> the open-loop run of that path at that rate."""


def search(
    names: list[str], attack: Attack, *, ladder: tuple[int, ...], tolerance: float, p99_bound_ms: float
) -> dict[str, Any]:
    """Each path's sustained rate: the ladder (every path still in takes each step), then the bisections.

    Paths take turns at every step (ladder rate or bisection round), so a change in the machine's load
    falls on all of them alike.
    """
    brackets = {name: Bracket() for name in names}
    out: dict[str, dict[str, Any]] = {name: {"runs": [], "refine": []} for name in names}

    def try_rate(name: str, rate: int, where: str) -> None:
        run = attack(name, rate)
        if run.load_generator_failed:  # kept, and run once more: it measured the load generator, not the path
            out[name][where].append(run.as_dict() | {"missed": miss_reason(run, p99_bound_ms=p99_bound_ms)})
            run = attack(name, rate)
        why = miss_reason(run, p99_bound_ms=p99_bound_ms)
        out[name][where].append(run.as_dict() | {"missed": why})
        brackets[name] = brackets[name].after(rate, sustained=why is None)

    for rate in ladder:
        for name in [n for n in names if brackets[n].missed is None]:
            try_rate(name, rate, "runs")
    while pending := {n: r for n in names if (r := brackets[n].next_rate(tolerance)) is not None}:
        for name, rate in pending.items():
            try_rate(name, rate, "refine")
    for name, result in out.items():
        bracket = brackets[name]
        result |= {
            "sustained_rps": bracket.passed,
            "first_miss_rps": bracket.missed,
            "above_ladder": bracket.missed is None,
            "tolerance": tolerance,
        }
    return out
