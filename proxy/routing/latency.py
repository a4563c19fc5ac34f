"""Latency statistics per provider and model: an EMA for routing decisions and a
bounded window of recent samples for percentiles in reports."""

from collections import deque
from dataclasses import dataclass

DEFAULT_HALF_LIFE_S = 60.0


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
    """Time-decayed EMA plus the last ``window`` samples.

    ``alpha`` weighs the newest sample; the weight of the previous average also
    halves every ``half_life_s`` seconds since it was updated, so a provider that
    was slow long ago is judged by its next sample, not by its past.
    """

    __slots__ = ("alpha", "count", "ema", "half_life_s", "max", "min", "samples", "updated_at")

    def __init__(self, alpha: float, window: int, half_life_s: float = DEFAULT_HALF_LIFE_S) -> None:
        self.alpha = alpha
        self.half_life_s = half_life_s
        self.ema: float | None = None
        self.updated_at = 0.0
        self.samples: deque[float] = deque(maxlen=window)
        self.count = 0
        self.min: float | None = None
        self.max: float | None = None

    def observe(self, seconds: float, now: float) -> None:
        # Comparisons rather than min()/max() calls: this runs twice per served request.
        ema = self.ema
        if ema is None:
            self.ema = self.min = self.max = seconds
        else:
            elapsed = now - self.updated_at
            keep = (1 - self.alpha) * 0.5 ** ((elapsed if elapsed > 0.0 else 0.0) / self.half_life_s)
            self.ema = (1 - keep) * seconds + keep * ema
            if seconds < self.min:  # type: ignore[operator]  # set with the first sample, as ema
                self.min = seconds
            elif seconds > self.max:  # type: ignore[operator]
                self.max = seconds
        self.updated_at = now
        self.samples.append(seconds)
        self.count += 1

    def reconfigure(self, alpha: float, window: int, half_life_s: float = DEFAULT_HALF_LIFE_S) -> None:
        """Apply new settings on reload, keeping what was learned."""
        self.alpha = alpha
        self.half_life_s = half_life_s
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
