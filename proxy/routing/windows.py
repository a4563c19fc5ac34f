"""Bounded-memory counters over time: a bucketed sliding window and a token bucket.

Both take ``now`` from the caller (the Router's injected clock), so they are
deterministic under a fake clock and never read the wall time themselves.
"""

import math


class SlidingWindow:
    """Success/failure counts over the last ``window_s`` seconds.

    The window is split into a fixed number of buckets, so memory stays constant
    whatever the request rate; counts are exact to within one bucket's width.
    """

    __slots__ = ("_failures", "_from", "_n", "_slot", "_stamps", "_to", "_totals", "_width")

    def __init__(self, window_s: float, buckets: int = 20) -> None:
        self._n = buckets
        self._width = window_s / buckets
        self._stamps = [-1] * buckets
        self._totals = [0] * buckets
        self._failures = [0] * buckets
        self._from = self._to = 0.0  # the time span of the last add's bucket (none yet)
        self._slot = 0

    def add(self, now: float, failed: bool) -> None:
        """Count one call at ``now``: in the last add's bucket while ``now`` is in its span (nearly every call;
        two run per answered request), without working the bucket out again."""
        if not self._from <= now < self._to:
            self._enter(now)
        slot = self._slot
        self._totals[slot] += 1
        if failed:
            self._failures[slot] += 1

    def _enter(self, now: float) -> None:
        """Make the bucket of ``now`` the current one, emptied if it last counted an older span."""
        width = self._width
        tick = int(now / width)
        slot = self._slot = tick % self._n
        self._from, self._to = tick * width, (tick + 1) * width
        if self._stamps[slot] != tick:
            self._stamps[slot] = tick
            self._totals[slot] = 0
            self._failures[slot] = 0

    def counts(self, now: float) -> tuple[int, int]:
        """(requests, failures) seen in the window ending at ``now``."""
        oldest = int(now / self._width) - self._n
        total = failures = 0
        for slot in range(self._n):
            if self._stamps[slot] > oldest:
                total += self._totals[slot]
                failures += self._failures[slot]
        return total, failures

    def reset(self) -> None:
        self._stamps = [-1] * self._n
        self._from = self._to = 0.0  # the next add enters its bucket afresh


class TokenBucket:
    """A classic token bucket refilled continuously at ``per_minute`` / 60 per second.

    Capacity is one minute's worth, so a quiet client may burst a minute's quota.
    ``take`` may drive the level negative (a debt): callers check ``available``
    first, and usage learned after the fact (completion tokens) is still charged.
    """

    __slots__ = ("_level", "_stamp", "capacity", "rate")

    def __init__(self, per_minute: float, now: float) -> None:
        self.capacity = per_minute
        self.rate = per_minute / 60.0
        self._level = per_minute
        self._stamp = now

    def available(self, now: float) -> float:
        """Tokens available at ``now``, without changing the bucket."""
        return min(self.capacity, self._level + (now - self._stamp) * self.rate)

    def admits(self, now: float, amount: float) -> bool:
        """Whether ``amount`` fits (capped at capacity so huge asks are not starved forever)."""
        level = self._level + (now - self._stamp) * self.rate  # inlined: this is the hot path
        return level >= self.capacity or level >= amount

    def take(self, now: float, amount: float) -> None:
        self._level = self.available(now) - amount
        self._stamp = now

    def wait_s(self, now: float, amount: float) -> float:
        """Seconds until ``amount`` (capped at capacity) fits."""
        missing = min(amount, self.capacity) - self.available(now)
        # Whole milliseconds, rounded up; a float error (10.0000000001 s) must not add one.
        return 0.0 if missing <= 0 else math.ceil(round(missing / self.rate * 1000, 6)) / 1000
