"""Runtime state of one mock server: faults per model, counters, recent bodies.

Kept on the aiohttp application (never at module level) so several mocks can
run in one process, each with its own seeded RNG for reproducible failures.
"""

import asyncio
import random
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from switchboard.mock.faults import FaultSpec

ANY_MODEL = "*"
RECENT_LIMIT = 100


@dataclass(frozen=True, slots=True)
class MockOptions:
    api_key: str | None = field(default=None, repr=False)
    seed: int = 0
    models: tuple[str, ...] = ("mock-model",)
    faults: Mapping[str, FaultSpec] = field(default_factory=dict)


@dataclass(slots=True)
class ModelStats:
    requests: int = 0
    errors: int = 0
    streams: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"requests": self.requests, "errors": self.errors, "streams": self.streams}


class MockState:
    def __init__(self, options: MockOptions) -> None:
        self.options = options
        self.rng = random.Random(options.seed)
        self.faults: dict[str, FaultSpec] = dict(options.faults)
        self.stats: dict[str, ModelStats] = {}
        self.total_requests = 0
        self.stream_bytes = 0  # event bytes streamed so far (handed to the socket: a stalled reader stops it)
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_LIMIT)
        self.closing = asyncio.Event()

    def faults_for(self, model: str) -> FaultSpec:
        """The model's faults layered over the ``*`` defaults."""
        base = self.faults.get(ANY_MODEL, FaultSpec())
        return self.faults.get(model, FaultSpec()).over(base) if model != ANY_MODEL else base

    def count_request(self, model: str) -> None:
        """Every request that named a model, answered or failed."""
        self.stats.setdefault(model, ModelStats()).requests += 1

    def remember(self, api: str, model: str, body: Any, *, stream: bool, traceparent: str | None = None) -> None:
        """A request that is being answered: keep its body (and W3C trace context) for ``GET /_mock/requests``."""
        self.stats.setdefault(model, ModelStats()).streams += int(stream)
        self.recent.append({"api": api, "model": model, "body": body, "traceparent": traceparent})

    def record_error(self, model: str | None) -> None:
        if model is not None:
            self.stats.setdefault(model, ModelStats()).errors += 1

    def snapshot(self) -> dict[str, Any]:
        models = {m: s.to_dict() for m, s in sorted(self.stats.items())}
        return {"total": self.total_requests, "stream_bytes": self.stream_bytes, "models": models}

    def reset_stats(self) -> None:
        self.stats.clear()
        self.total_requests = 0
        self.stream_bytes = 0
        self.recent.clear()
