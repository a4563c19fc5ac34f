"""Mutable learned state the Router keeps between requests, per provider and per profile.

Plain slotted classes mutated only from synchronous Router methods: under
asyncio no other task runs in between, so no locks are needed.
"""

import math

from switchboard.api.profile import ProfileConfig
from switchboard.api.provider import Limits, ProviderConfig
from switchboard.proxy.routing.affinity import SessionStore
from switchboard.proxy.routing.windows import SlidingWindow, TokenBucket

ACTIVITY_WINDOW_S = 60.0


class ProviderState:
    """In-flight count, fleet-share limits, Retry-After cooldown and recent activity (its latency is its
    models': ``Live.latency``).

    ``admits`` memoises its last success: between two changes of this state a
    provider that admitted ``n`` prompt tokens at ``t`` admits any smaller
    prompt at any later time (buckets only refill, cooldowns only expire), so
    plans recheck a limited provider only after it was used.
    """

    __slots__ = (
        "_clear_since",
        "_clear_tokens",
        "activity",
        "cooldown_until",
        "guarded",
        "inflight",
        "last_error",
        "limits",
        "max_concurrency",
        "replicas",
        "requests",
        "shared",
        "tokens",
    )

    def __init__(self, provider: ProviderConfig, replicas: int, now: float) -> None:
        self.shared = False  # RPM/TPM enforced fleet-wide by the state store's limiter, not here
        self.inflight = 0
        self.cooldown_until = 0.0
        self.activity = SlidingWindow(ACTIVITY_WINDOW_S, buckets=60)
        self.last_error: str | None = None
        self.limits: Limits | None = None
        self.replicas = 0
        self.requests: TokenBucket | None = None
        self.tokens: TokenBucket | None = None
        self.max_concurrency: int | None = None
        self.guarded = False  # any limit or cooldown to check: lets the hot loop skip the call
        self._clear_since = 0.0
        self._clear_tokens = -1  # nothing memoised
        self.configure(provider, replicas, now)

    def configure(self, provider: ProviderConfig, replicas: int, now: float) -> None:
        """(Re)build the limiters when the limits or the fleet size changed."""
        if provider.limits == self.limits and replicas == self.replicas:
            return
        limits = provider.limits
        self.limits, self.replicas = limits, replicas
        self.requests = share_bucket(limits.requests_per_minute, replicas, now)
        self.tokens = share_bucket(limits.tokens_per_minute, replicas, now)
        cap = limits.max_concurrency
        self.max_concurrency = None if cap is None else max(1, math.ceil(cap / replicas))
        self._reguard()

    def share(self, shared: bool) -> None:
        """Leave (or take back) RPM/TPM enforcement to the fleet limiter."""
        self.shared = shared
        self._reguard()

    def _reguard(self) -> None:
        buckets = () if self.shared else (self.requests, self.tokens)
        self.guarded = self.cooldown_until > 0 or any(x is not None for x in (*buckets, self.max_concurrency))
        self._clear_tokens = -1

    def start(self, now: float) -> None:
        """A call to this provider starts: one more in flight, one request taken."""
        self.inflight += 1
        if self.requests is not None and not self.shared:
            self.requests.take(now, 1)
        self._clear_tokens = -1

    def finish(self, now: float, tokens_used: int, failed: bool | None) -> None:
        """A call ended: one less in flight, its tokens charged, counted in the recent activity
        (``failed``: True for an upstream failure; a success and a neutral end count as calls that did not fail)."""
        if self.inflight > 0:
            self.inflight -= 1
        if self.tokens is not None and not self.shared:
            self.tokens.take(now, tokens_used)
        self._clear_tokens = -1
        self.activity.add(now, failed is True)

    def cool_down(self, until: float) -> None:
        """Honour an upstream Retry-After: keep this provider out of plans until ``until``."""
        self.cooldown_until = max(self.cooldown_until, until)
        self.guarded = True
        self._clear_tokens = -1

    def admits(self, now: float, prompt_tokens: int) -> bool:
        """Exactly ``blocked_reason(now, prompt_tokens) is None``, memoised (see the class doc)."""
        if prompt_tokens <= self._clear_tokens and now >= self._clear_since:
            return True
        if self.blocked_reason(now, prompt_tokens) is not None:
            return False
        self._clear_since, self._clear_tokens = now, prompt_tokens
        return True

    def wait_s(self, now: float, prompt_tokens: int) -> float | None:
        """Seconds until the limits and any upstream cool-down admit the request; None when only
        a request ending can free it (max concurrency), which no clock can predict."""
        if self.max_concurrency is not None and self.inflight >= self.max_concurrency:
            return None
        buckets = () if self.shared else ((self.requests, 1), (self.tokens, prompt_tokens))
        waits = [b.wait_s(now, n) for b, n in buckets if b is not None]
        return max([self.cooldown_until - now, *waits, 0.0])

    def blocked_reason(self, now: float, prompt_tokens: int) -> str | None:
        """Why this provider cannot take one more request now, or None."""
        if now < self.cooldown_until:
            return f"rate limited upstream (Retry-After, {self.cooldown_until - now:.1f}s left)"
        if not self.shared:
            if self.requests is not None and not self.requests.admits(now, 1):
                return "over requests-per-minute limit"
            if self.tokens is not None and not self.tokens.admits(now, prompt_tokens):
                return "over tokens-per-minute limit"
        if self.max_concurrency is not None and self.inflight >= self.max_concurrency:
            return f"at max concurrency ({self.max_concurrency} per replica)"
        return None


class ProfileState:
    """Round-robin turn, session affinity and the profile's own rate limits."""

    __slots__ = ("key", "limited", "requests", "sessions", "shared", "tokens", "turn")

    def __init__(self, profile: ProfileConfig, replicas: int, now: float) -> None:
        self.shared = False  # limits enforced fleet-wide by the state store's limiter, not here
        self.limited = False  # this replica enforces a limit of the profile: lets plans skip the checks
        self.turn = 0
        affinity = profile.session_affinity
        self.sessions = SessionStore(affinity.max_sessions, affinity.ttl_seconds)
        self.key: tuple[object, ...] = ()
        self.requests: TokenBucket | None = None
        self.tokens: TokenBucket | None = None
        self.configure(profile, replicas, now)

    def configure(self, profile: ProfileConfig, replicas: int, now: float) -> None:
        affinity = profile.session_affinity
        self.sessions.reconfigure(affinity.max_sessions, affinity.ttl_seconds)
        key = (profile.rate_limit, replicas)
        if key != self.key:
            self.key = key
            self.requests = share_bucket(profile.rate_limit.requests_per_minute, replicas, now)
            self.tokens = share_bucket(profile.rate_limit.tokens_per_minute, replicas, now)
        self._relimit()

    def share(self, shared: bool) -> None:
        self.shared = shared
        self._relimit()

    def _relimit(self) -> None:
        self.limited = not self.shared and (self.requests is not None or self.tokens is not None)

    def blocked_reason(self, now: float, prompt_tokens: int) -> str | None:
        if self.shared:
            return None
        if self.requests is not None and not self.requests.admits(now, 1):
            return "profile over requests-per-minute limit"
        if self.tokens is not None and not self.tokens.admits(now, prompt_tokens):
            return "profile over tokens-per-minute limit"
        return None

    def retry_after_s(self, now: float, prompt_tokens: int) -> float:
        waits = [b.wait_s(now, n) for b, n in ((self.requests, 1), (self.tokens, prompt_tokens)) if b is not None]
        return max(waits, default=0.0)

    def admit(self, now: float, prompt_tokens: int) -> None:
        if self.shared:
            return
        if self.requests is not None:
            self.requests.take(now, 1)
        if self.tokens is not None:
            self.tokens.take(now, prompt_tokens)


def share_bucket(per_minute: int | None, replicas: int, now: float) -> TokenBucket | None:
    """This replica's 1/N share of a fleet-wide per-minute limit."""
    return None if per_minute is None else TokenBucket(per_minute / replicas, now)
