"""Latency statistics per provider and model: an EMA for routing decisions and a
bounded window of recent samples for percentiles in reports."""

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """One row of ``Router.latency_report()``; milliseconds, None without samples."""

    provider: str
    model: str
    count: int
    ema_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    min_ms: float | None
    max_ms: float | None


class LatencyStats:
    """EMA (``alpha`` weighs the newest sample) plus the last ``window`` samples."""

    __slots__ = ("alpha", "count", "ema", "max", "min", "samples")

    def __init__(self, alpha: float, window: int) -> None:
        self.alpha = alpha
        self.ema: float | None = None
        self.samples: deque[float] = deque(maxlen=window)
        self.count = 0
        self.min: float | None = None
        self.max: float | None = None

    def observe(self, seconds: float) -> None:
        self.ema = seconds if self.ema is None else self.alpha * seconds + (1 - self.alpha) * self.ema
        self.samples.append(seconds)
        self.count += 1
        self.min = seconds if self.min is None else min(self.min, seconds)
        self.max = seconds if self.max is None else max(self.max, seconds)

    def reconfigure(self, alpha: float, window: int) -> None:
        """Apply new settings on reload, keeping what was learned."""
        self.alpha = alpha
        if self.samples.maxlen != window:
            self.samples = deque(self.samples, maxlen=window)

    def summary(self, provider: str, model: str) -> LatencySummary:
        ordered = sorted(self.samples)
        return LatencySummary(
            provider=provider,
            model=model,
            count=self.count,
            ema_ms=_ms(self.ema),
            p50_ms=_ms(percentile(ordered, 50)),
            p95_ms=_ms(percentile(ordered, 95)),
            p99_ms=_ms(percentile(ordered, 99)),
            min_ms=_ms(self.min),
            max_ms=_ms(self.max),
        )


def percentile(ordered: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of already sorted samples (None when empty)."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil without floats drifting
    return ordered[int(rank) - 1]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)
