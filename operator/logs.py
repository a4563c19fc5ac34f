"""Keeps the operator's log about what changed, not about routine work.

kopf logs ``Handler '...' succeeded.`` at INFO for every event it handles (most
of them caused by the proxies' status writes before those were filtered out),
and an ERROR for every retried API request while the API server is away. The
first is routine; the second is said once per state change by the Lease elector
(``lease ... cannot be renewed`` / ``reachable again``), which polls the same
API server every couple of seconds. Everything else of kopf's passes unchanged.
"""

import logging
from collections.abc import Iterator


class RoutineKopfLines(logging.Filter):
    """Drops kopf's routine handler successes and per-attempt API retry lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("kopf"):
            return True
        message = record.getMessage()
        if record.levelno <= logging.INFO and message.startswith("Handler ") and message.endswith(" succeeded."):
            return False
        return not (message.startswith("Request attempt ") and "failed; will retry" in message)


def quiet_kopf() -> None:
    """Install the filter on the root logger's handlers (kopf's loggers propagate there)."""
    routine = RoutineKopfLines()
    for handler in logging.getLogger().handlers:
        handler.addFilter(routine)


class CappedBackoff:
    """kopf's API retry delays: short, capped, and never giving up (re-iterable, unbounded).

    After an outage the watches resume within ``cap`` seconds of the API server's
    return instead of after kopf's default 1-2-3-5-8-13-21 s climb.
    """

    def __init__(self, first: float = 0.1, cap: float = 1.0) -> None:
        self.first, self.cap = first, cap

    def __iter__(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield delay
            delay = min(self.cap, delay * 2)
