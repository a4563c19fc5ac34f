"""Pure decisions behind the proxies' Kubernetes Events: what happened, and whether to say so.

* :func:`circuit_transitions`: circuit opened / closed, from two successive
  views of ``provider_health()`` (one replica's view, sampled per status tick).
* :class:`StormDetector`: a failover storm, from the running total of retried
  attempts per profile; reports the tick the rate crosses the threshold.
* :func:`store_announcements`: the state store went down or came back.
* :class:`EventThrottle`: at most one Event per (object, reason) per interval;
  what it holds back is counted and told in the next Event's message, so a
  flapping provider leaves a trail of a few Events instead of a flood.

No I/O and no clocks: the shell passes ``now`` (seconds, monotonic) in.
"""

from collections import deque
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

from switchboard.api.events import EventType
from switchboard.api.status import CircuitState, ProviderHealth


@dataclass(frozen=True, slots=True)
class Notice:
    """An Event to post about one object: ``key`` is a provider or profile key ("namespace/name")."""

    key: str
    type: EventType
    reason: str
    message: str


def circuit_transitions(
    previous: Mapping[str, CircuitState], current: Mapping[str, ProviderHealth], replica: str
) -> list[Notice]:
    """Circuits that opened or closed since ``previous``; a provider seen first counts as closed before.

    ``half-open`` is a probe, not news: open -> half-open -> open stays silent,
    and only reaching ``closed`` again from open or half-open is reported.
    """
    notices: list[Notice] = []
    for key, health in sorted(current.items()):
        before, now = previous.get(key, "closed"), health.circuit
        if now == "open" and before == "closed":
            detail = f"; last error: {health.last_error}" if health.last_error else ""
            message = f"replica {replica}: circuit opened (error rate {health.error_rate:.0%}{detail})"
            notices.append(Notice(key, "Warning", "CircuitOpened", message))
        elif now == "closed" and before != "closed":
            notices.append(Notice(key, "Normal", "CircuitClosed", f"replica {replica}: circuit closed, serving again"))
    return notices


@dataclass(slots=True)
class StormDetector:
    """Flags a profile when ``threshold`` or more attempts were retried within ``window_s``.

    Fed the running totals each tick (``observe``; a profile with no retries yet
    may be absent, as in a ``Counter``); a profile is reported once
    when it enters the storm, and again only after it calmed down first.
    """

    threshold: int
    window_s: float
    _samples: dict[str, deque[tuple[float, int]]] = field(default_factory=dict)
    _storming: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.threshold < 1 or self.window_s <= 0:
            raise ValueError("failover storm threshold and window must be positive")

    def observe(self, totals: Mapping[str, int], now: float, replica: str) -> list[Notice]:
        notices: list[Notice] = []
        for key, total in sorted(totals.items()):
            retried = self._retried_within_window(key, total, now)
            if retried >= self.threshold and key not in self._storming:
                self._storming.add(key)
                message = (
                    f"replica {replica}: failover storm, {retried} attempts retried on other providers "
                    f"or again within {self.window_s:g}s (threshold {self.threshold})"
                )
                notices.append(Notice(key, "Warning", "FailoverStorm", message))
            elif retried < self.threshold:
                self._storming.discard(key)
        return notices

    def _retried_within_window(self, key: str, total: int, now: float) -> int:
        # A profile first seen has retried ``total`` since the tally began (at zero, as the proxy started).
        samples = self._samples.setdefault(key, deque([(now, 0)]))
        samples.append((now, total))
        # Keep one sample at or before the window's start as the baseline.
        while len(samples) > 1 and samples[1][0] <= now - self.window_s:
            samples.popleft()
        return total - samples[0][1]


def store_announcements(posted_up: bool, posted_outages: int, up: bool, outages: int) -> list[bool]:
    """The state store's health to announce, in order, given the last one announced.

    ``outages`` counts the times the store went down, so an outage shorter than a tick is still
    told (down, then up again); a store that is down stays one Warning until it is back.
    """
    if not posted_up:
        return [True] if up else []
    if outages > posted_outages:
        return [False, True] if up else [False]
    return []


@dataclass(slots=True)
class EventThrottle:
    """At most one Event per (object, reason) per ``min_interval_s``; held-back ones are counted."""

    min_interval_s: float
    _last: dict[Hashable, float] = field(default_factory=dict)
    _held: dict[Hashable, int] = field(default_factory=dict)

    def admit(self, notice: Notice, now: float) -> Notice | None:
        """The notice to post (with the count held back since the last one), or None to drop it."""
        slot = (notice.key, notice.reason)
        last = self._last.get(slot)
        if last is not None and now - last < self.min_interval_s:
            self._held[slot] = self._held.get(slot, 0) + 1
            return None
        self._last[slot] = now
        held = self._held.pop(slot, 0)
        if not held:
            return notice
        suffix = f" ({held} more {notice.reason} since the last such Event were not posted)"
        return Notice(notice.key, notice.type, notice.reason, notice.message + suffix)
