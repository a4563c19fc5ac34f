"""Circuit breaker for one provider and model: closed -> open -> half-open -> closed.

Trips on ``consecutiveFailures`` in a row, or when the failure rate over the
sliding window exceeds ``failureRateThreshold`` once ``minimumRequests`` were
seen. Each re-trip from half-open doubles the open time up to ``maxOpenSeconds``.
After closing, ``slow_start_factor`` ramps the provider's share back up over
``slowStartSeconds`` so a recovering upstream is not flooded at once.
"""

from switchboard.api.provider import CircuitBreaker as BreakerSettings
from switchboard.api.status import CircuitState
from switchboard.proxy.routing.windows import SlidingWindow


class Breaker:
    """State of one breaker. ``now`` always comes from the caller's clock."""

    __slots__ = (
        "_closed_at",
        "_consecutive",
        "_enabled",
        "_open_for",
        "_opened_at",
        "_probe_successes",
        "_probes",
        "_state",
        "_window",
        "settings",
        "tripped",
    )

    def __init__(self, settings: BreakerSettings) -> None:
        self.settings = settings
        self._enabled = settings.enabled  # read per result: a plain copy (a pydantic attribute is a slow look-up)
        self._state: CircuitState = "closed"
        self.tripped = False  # fast-path flag for the hot loop: state is not closed
        self._consecutive = 0
        self._window = SlidingWindow(settings.window_seconds)
        self._opened_at = 0.0
        self._open_for = settings.open_seconds
        self._probes = 0
        self._probe_successes = 0
        self._closed_at: float | None = None

    def reconfigure(self, settings: BreakerSettings) -> None:
        """Take new settings on reload; the current state is kept."""
        if settings.window_seconds != self.settings.window_seconds:
            self._window = SlidingWindow(settings.window_seconds)
        self.settings = settings
        self._enabled = settings.enabled
        if not settings.enabled:
            self._close(None)

    def state(self, now: float) -> CircuitState:
        """The state at ``now`` (an expired open circuit reads as half-open)."""
        if self._state == "open" and now - self._opened_at >= self._open_for:
            return "half-open"
        return self._state

    def admits(self, now: float) -> bool:
        """Whether a new call may go through now (without reserving a probe)."""
        state = self.state(now)
        if state == "closed":
            return True
        if state == "open":
            return False
        return self._probes < self.settings.half_open_probes

    def reopens_in(self, now: float) -> float:
        """Seconds until an open circuit admits probes (0 when not open)."""
        return max(0.0, self._opened_at + self._open_for - now) if self._state == "open" else 0.0

    def on_start(self, now: float) -> None:
        """A call starts: in half-open it takes one of the probe slots."""
        if self.state(now) == "half-open":
            if self._state == "open":
                self._state = "half-open"
                self._probe_successes = 0
            self._probes += 1

    def on_result(self, now: float, failed: bool | None) -> None:
        """Record a finished call: True failure, False success, None neutral (client 4xx)."""
        if self._state == "half-open":
            self._probes = max(0, self._probes - 1)
            if failed:
                self._trip(now, backoff=True)
            elif failed is False:
                self._probe_successes += 1
                if self._probe_successes >= self.settings.half_open_probes:
                    self._close(now)
            return
        if failed is None or self._state == "open" or not self._enabled:
            return
        self._window.add(now, failed)
        self._consecutive = self._consecutive + 1 if failed else 0
        if failed and self._should_trip(now):
            self._trip(now, backoff=False)

    @property
    def ramping(self) -> bool:
        """True while a just-closed breaker is in its slow-start ramp."""
        return self._closed_at is not None

    def slow_start_factor(self, now: float) -> float:
        """Share of normal traffic a just-closed breaker gets back: ramps 0.1 -> 1."""
        ramp = self.settings.slow_start_seconds
        if self._closed_at is None or ramp <= 0:
            return 1.0
        progress = (now - self._closed_at) / ramp
        if progress >= 1:
            self._closed_at = None  # ramp done; skip the arithmetic from now on
            return 1.0
        return max(0.1, progress)

    def _should_trip(self, now: float) -> bool:
        s = self.settings
        if self._consecutive >= s.consecutive_failures:
            return True
        total, failures = self._window.counts(now)
        return total >= s.minimum_requests and failures / total >= s.failure_rate_threshold

    def _trip(self, now: float, backoff: bool) -> None:
        s = self.settings
        self._open_for = min(self._open_for * 2, s.max_open_seconds) if backoff else s.open_seconds
        self._state = "open"
        self.tripped = True
        self._opened_at = now
        self._probes = 0
        self._probe_successes = 0
        self._closed_at = None

    def _close(self, now: float | None) -> None:
        self._state = "closed"
        self.tripped = False
        self._consecutive = 0
        self._window.reset()
        self._open_for = self.settings.open_seconds
        self._probes = 0
        self._closed_at = now
