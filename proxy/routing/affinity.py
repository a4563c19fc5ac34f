"""Session affinity: a session keeps its provider while that provider is healthy.

Bounded memory: at most ``max_sessions`` entries (least recently used evicted)
and each entry expires ``ttl_seconds`` after its last use.
"""

from collections import OrderedDict

from switchboard.api.profile import SessionAffinity
from switchboard.proxy.routing.types import RouteRequest


def session_key(settings: SessionAffinity, request: RouteRequest) -> str | None:
    """The configured header's value, else the request's ``user`` field (if allowed)."""
    value = request.headers.get(settings.header.lower())
    if value:
        return value
    return request.user if settings.use_user_field and request.user else None


class SessionStore:
    """LRU + TTL map from session key to provider key."""

    __slots__ = ("_entries", "_max", "_ttl")

    def __init__(self, max_sessions: int, ttl_s: float) -> None:
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._max = max_sessions
        self._ttl = ttl_s

    def __len__(self) -> int:
        return len(self._entries)

    def reconfigure(self, max_sessions: int, ttl_s: float) -> None:
        self._max, self._ttl = max_sessions, ttl_s
        self._evict_overflow()

    def get(self, key: str, now: float) -> str | None:
        """The bound provider key, or None (expired entries are dropped)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= now:
            del self._entries[key]
            return None
        return entry[0]

    def peek(self, key: str, now: float) -> str | None:
        """Like ``get`` but without touching the store (for ``explain``)."""
        entry = self._entries.get(key)
        return entry[0] if entry is not None and entry[1] > now else None

    def bind(self, key: str, provider_key: str, now: float) -> None:
        self._entries[key] = (provider_key, now + self._ttl)
        self._entries.move_to_end(key)
        self._evict_overflow()

    def forget_providers(self, keep: set[str]) -> None:
        """Drop sessions bound to providers that no longer exist."""
        for key in [k for k, (p, _) in self._entries.items() if p not in keep]:
            del self._entries[key]

    def _evict_overflow(self) -> None:
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
