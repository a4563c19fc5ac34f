"""Session affinity: a session keeps its provider while that provider is healthy.

A session is named by a header, the body's ``user`` field, or (prompt-prefix
affinity) a hash of the prompt's first messages, so agents sharing a long
system prompt keep hitting the provider whose prompt cache holds it.

A session seen for the first time goes to its **rendezvous** choice among the
eligible candidates (highest weighted hash of session and provider): every
replica computes the same provider with no shared state, so a session stays
put across replicas too. Once bound, this replica keeps it there (bounded
memory: at most ``max_sessions`` entries, LRU, each expiring ``ttl_seconds``
after its last use) while the provider stays eligible.
"""

import hashlib
import math
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

from switchboard.api.profile import SessionAffinity
from switchboard.proxy.routing.types import RouteRequest

_SCALE = float(2**64)


def session_key(settings: SessionAffinity, request: RouteRequest) -> str | None:
    """The configured header's value, else the ``user`` field (if allowed), else the prompt prefix (if on)."""
    value = request.headers.get(settings.header.lower())
    if value:
        return value
    if settings.use_user_field and request.user:
        return request.user
    digest = request.prefix_hash() if settings.prompt_prefix else None
    return f"prefix:{digest}" if digest else None


class Weighted(Protocol):
    @property
    def provider_key(self) -> str: ...

    @property
    def weight(self) -> int: ...


def rendezvous_index(key: str, candidates: Sequence[Weighted]) -> int:
    """Index of the candidate with the highest weighted rendezvous score for ``key``.

    Weighted rendezvous hashing (score ``-weight / ln(u)``, ``u`` uniform from
    the hash): each provider wins in proportion to its weight, and removing one
    moves only the sessions it had.
    """
    best, best_score = 0, -math.inf
    for i, c in enumerate(candidates):
        digest = hashlib.blake2b(f"{key}\x00{c.provider_key}".encode(), digest_size=8).digest()
        u = (int.from_bytes(digest, "big") + 0.5) / _SCALE
        score = -max(c.weight, 1e-9) / math.log(u)
        if score > best_score:
            best, best_score = i, score
    return best


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
