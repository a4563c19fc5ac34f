"""Pure endpoint picking policies: which of a provider's usable endpoints takes an attempt.

Every policy sees only the usable endpoints (ready, not ejected, not full) and
returns one of them. Ties are broken at random so that a fleet of replicas does
not herd onto the same endpoint.
"""

import bisect
import hashlib
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from switchboard.api.endpoints import PickingPolicy

VIRTUAL_NODES = 64
"""Points per endpoint on the hash ring: enough to spread keys evenly over a handful of endpoints."""


class Pickable(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def in_flight(self) -> int: ...
    @property
    def waiting(self) -> float | None: ...
    @property
    def kv_cache(self) -> float | None: ...


def hash64(text: str) -> int:
    """A stable 64-bit hash (the same on every replica and across restarts, unlike ``hash``)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


@dataclass(frozen=True, slots=True)
class HashRing:
    """Consistent hashing: adding or removing one endpoint moves only the keys that land on it."""

    points: tuple[int, ...]
    owners: tuple[str, ...]

    @classmethod
    def of(cls, keys: Sequence[str]) -> "HashRing":
        ring = sorted((hash64(f"{key}#{i}"), key) for key in set(keys) for i in range(VIRTUAL_NODES))
        return cls(tuple(p for p, _ in ring), tuple(k for _, k in ring))

    def walk(self, key_hash: int) -> list[str]:
        """Endpoint keys in ring order from ``key_hash``: the owner first, then each fallback once."""
        if not self.points:
            return []
        start = bisect.bisect_left(self.points, key_hash)
        seen: dict[str, None] = {}
        count = len(self.owners)
        for i in range(count):
            seen.setdefault(self.owners[(start + i) % count], None)
        return list(seen)


M = TypeVar("M", bound=Pickable)


def pick(
    policy: PickingPolicy,
    usable: Sequence[M],
    *,
    rng: random.Random,
    turn: int = 0,
    ring: HashRing | None = None,
    prefix_hash: int | None = None,
) -> M:
    """The endpoint for one attempt among ``usable`` (non-empty, in a stable order)."""
    if policy == "round-robin":
        return usable[turn % len(usable)]
    if policy == "prefix-affinity" and ring is not None and prefix_hash is not None:
        by_key = {m.key: m for m in usable}
        for key in ring.walk(prefix_hash):
            if key in by_key:
                return by_key[key]
    if policy == "least-queue":
        return _least(usable, lambda m: (m.waiting or 0.0, m.kv_cache or 0.0, m.in_flight), rng)
    return _least(usable, lambda m: (m.in_flight,), rng)


def _least(usable: Sequence[M], load: Callable[[M], tuple[float, ...]], rng: random.Random) -> M:
    best = min(load(m) for m in usable)
    tied = [m for m in usable if load(m) == best]
    return tied[0] if len(tied) == 1 else rng.choice(tied)


def prompt_prefix(body: Mapping[str, Any], chars: int) -> str:
    """The leading ``chars`` characters of the prompt (roles and text of the messages, or the input).

    Requests that share a system prompt and history share this prefix, so they
    land on the endpoint whose prefix cache already holds it.
    """
    parts: list[str] = []
    size = 0
    for piece in _prompt_pieces(body):
        parts.append(piece)
        size += len(piece)
        if size >= chars:
            break
    return "\n".join(parts)[:chars]


def _prompt_pieces(body: Mapping[str, Any]) -> Iterator[str]:
    for message in body.get("messages") or ():
        if isinstance(message, Mapping):
            yield str(message.get("role", ""))
            yield from _texts(message.get("content"))
    yield from _texts(body.get("input"))
    yield from _texts(body.get("prompt"))


def _texts(content: Any) -> Iterator[str]:
    if isinstance(content, str):
        yield content
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, str):
                yield part
            elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                yield part["text"]
