"""The endpoints of one Service-backed provider, as one replica sees them. Pure: the clock comes from callers.

Each endpoint (``Member``) counts its own in-flight attempts, has its own breaker
(the ``ejection`` settings) and the queue figures last scraped from it. The pool
says whether the provider can take an attempt now and, if not, why: that reason
is what the routing engine shows when traffic spills to the next provider.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from switchboard.api.endpoints import Ejection, EndpointPicking
from switchboard.api.provider import CircuitBreaker
from switchboard.proxy.endpoints.picking import HashRing, pick
from switchboard.proxy.routing.breaker import Breaker

EndpointState = Literal["ready", "not-ready", "terminating", "ejected", "full"]
UnavailableKind = Literal["no_endpoints", "no_ready_endpoints", "all_ejected", "saturated"]


@dataclass(frozen=True, slots=True)
class Address:
    """One ready-or-not endpoint of a Service at the resolved port (from its EndpointSlices)."""

    ip: str
    port: int
    ready: bool = True
    terminating: bool = False

    @property
    def key(self) -> str:
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"


_SPILL_TEXT: dict[UnavailableKind, str] = {
    "saturated": "saturated: ",
    "all_ejected": "endpoints ejected: ",
    "no_ready_endpoints": "no ready endpoints",
    "no_endpoints": "service has no endpoints",
}
"""How each reason's text starts (for people; the engine reads ``Unavailable.kind``)."""


@dataclass(frozen=True, slots=True)
class Unavailable:
    """Why no endpoint of the provider can take an attempt now."""

    kind: UnavailableKind
    text: str


def breaker_settings(ejection: Ejection) -> CircuitBreaker:
    """Ejection as the routing breaker's settings: consecutive failures only, one probe, no ramp."""
    return CircuitBreaker(
        consecutive_failures=ejection.consecutive_failures,
        failure_rate_threshold=1.0,
        minimum_requests=100000,
        open_seconds=ejection.ejection_seconds,
        max_open_seconds=max(ejection.max_ejection_seconds, ejection.ejection_seconds),
        half_open_probes=1,
        slow_start_seconds=0.0,
    )


class Member:
    """One endpoint of the pool."""

    __slots__ = ("address", "breaker", "in_flight", "kv_cache", "removed", "waiting")

    def __init__(self, address: Address, ejection: Ejection) -> None:
        self.address = address
        self.breaker = Breaker(breaker_settings(ejection))
        self.in_flight = 0
        self.waiting: float | None = None  # scraped; None until the first good scrape
        self.kv_cache: float | None = None
        self.removed = False  # gone from the EndpointSlices; kept until its in-flight attempts end

    @property
    def key(self) -> str:
        return self.address.key

    def full(self, picking: EndpointPicking) -> bool:
        s = picking.saturation
        if s.max_in_flight is not None and self.in_flight >= s.max_in_flight:
            return True
        if s.max_waiting is not None and self.waiting is not None and self.waiting >= s.max_waiting:
            return True
        limit = s.max_kv_cache_usage
        return limit is not None and self.kv_cache is not None and self.kv_cache >= limit

    def state(self, picking: EndpointPicking, now: float) -> EndpointState:
        if self.removed or self.address.terminating:
            return "terminating"
        if not self.address.ready:
            return "not-ready"
        if not self.breaker.admits(now):
            return "ejected"
        return "full" if self.full(picking) else "ready"


class EndpointPool:
    """The members of one provider, kept in sync with its Service's EndpointSlices."""

    __slots__ = ("_ring", "_turn", "members", "picking", "scheme", "synced")

    def __init__(self, picking: EndpointPicking, scheme: str = "http") -> None:
        self.picking = picking
        self.scheme = scheme  # the Service's: used for metrics scrapes too
        self.members: dict[str, Member] = {}
        self.synced = False  # False until the first EndpointSlice view arrived
        self._turn = 0
        self._ring = HashRing.of([])

    def configure(self, picking: EndpointPicking, scheme: str = "http") -> None:
        """New settings on reload; members, counts and ejections are kept."""
        self.scheme = scheme
        if picking.ejection != self.picking.ejection:
            for member in self.members.values():
                member.breaker.reconfigure(breaker_settings(picking.ejection))
        self.picking = picking

    def sync(self, addresses: Sequence[Address]) -> list[str]:
        """Follow the Service's current endpoints; returns the keys of members dropped for good.

        A vanished endpoint with attempts in flight stays (``removed``) until they end.
        """
        self.synced = True
        wanted = {a.key: a for a in addresses}
        dropped = []
        for key, member in list(self.members.items()):
            if key not in wanted:
                member.removed = True
                if member.in_flight == 0:
                    del self.members[key]
                    dropped.append(key)
        for key, address in wanted.items():
            known = self.members.get(key)
            if known is None:
                self.members[key] = Member(address, self.picking.ejection)
            else:
                known.address, known.removed = address, False
        self._ring = HashRing.of([k for k, m in self.members.items() if not m.removed])
        return dropped

    def usable(self, now: float) -> list[Member]:
        """Members that may take an attempt now, in a stable order."""
        return [m for _, m in sorted(self.members.items()) if m.state(self.picking, now) == "ready"]

    def unavailable(self, now: float) -> Unavailable | None:
        """None when some endpoint can take an attempt; else why not (the spill-over reason)."""
        states = [m.state(self.picking, now) for m in self.members.values()]
        if "ready" in states:
            return None
        live = [s for s in states if s != "terminating"]
        if not live:
            return Unavailable("no_endpoints", _SPILL_TEXT["no_endpoints"])
        counts = {s: live.count(s) for s in ("not-ready", "ejected", "full")}
        if counts["full"]:
            text = _full_text(counts["full"], len(live), self.picking)
            return Unavailable("saturated", _SPILL_TEXT["saturated"] + text)
        if counts["ejected"]:
            text = f"{counts['ejected']} of {len(live)}, none ready"
            return Unavailable("all_ejected", _SPILL_TEXT["all_ejected"] + text)
        return Unavailable("no_ready_endpoints", _SPILL_TEXT["no_ready_endpoints"] + f" (0/{len(live)})")

    def choose(self, now: float, rng: random.Random, prefix_hash: int | None, avoid: frozenset[str]) -> Member | None:
        """The member for the next attempt, skipping ``avoid`` (endpoints this attempt already failed on)."""
        usable = [m for m in self.usable(now) if m.key not in avoid]
        if not usable:
            return None
        member = pick(self.picking.policy, usable, rng=rng, turn=self._turn, ring=self._ring, prefix_hash=prefix_hash)
        self._turn += 1
        return member

    def started(self, member: Member, now: float) -> None:
        member.in_flight += 1
        member.breaker.on_start(now)

    def finished(self, member: Member, now: float, failed: bool | None) -> bool:
        """Record one attempt's end (``failed`` None: neutral). True when the member left the pool with it."""
        member.in_flight = max(0, member.in_flight - 1)
        member.breaker.on_result(now, failed)
        if member.removed and member.in_flight == 0 and self.members.get(member.key) is member:
            del self.members[member.key]
            return True
        return False

    def counts(self, now: float) -> tuple[int, int]:
        """(ready, total) endpoints, terminating ones left out; ``ready`` excludes ejected ones."""
        states = [m.state(self.picking, now) for m in self.members.values()]
        live = [s for s in states if s != "terminating"]
        return sum(s in ("ready", "full") for s in live), len(live)


def _full_text(full: int, live: int, picking: EndpointPicking) -> str:
    s = picking.saturation
    limits = [
        f"in flight >= {s.max_in_flight}" if s.max_in_flight is not None else "",
        f"waiting >= {s.max_waiting}" if s.max_waiting is not None else "",
        f"KV cache >= {s.max_kv_cache_usage:g}" if s.max_kv_cache_usage is not None else "",
    ]
    return f"{full} of {live} endpoints full ({', '.join(x for x in limits if x)})"
