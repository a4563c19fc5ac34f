"""Kubernetes Events for what an operator must see in ``kubectl describe``,
rate-limited per object, reason and message so a flapping reference cannot flood
the API server. Messages come from the renderer and never contain key material."""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio import client

from switchboard.api.events import EventType, InvolvedObject, event_manifest
from switchboard.operator.kube import Kube

logger = logging.getLogger(__name__)

COMPONENT = "switchboard-operator"


@dataclass
class RepeatWindow:
    """Allows one event per (object uid, reason, message) per ``window_seconds``.

    A resource flipping between two states therefore yields at most two events
    per window, while a new problem (new message) is reported at once.
    """

    window_seconds: float = 300.0
    clock: Callable[[], float] = field(default=lambda: datetime.now(UTC).timestamp())
    _last: dict[tuple[str, str, str], float] = field(default_factory=dict)

    def allow(self, uid: str, reason: str, message: str) -> bool:
        now = self.clock()
        key = (uid, reason, message)
        last = self._last.get(key)
        if last is not None and now - last < self.window_seconds:
            return False
        self._last = {k: t for k, t in self._last.items() if now - t < self.window_seconds}
        self._last[key] = now
        return True


@dataclass
class OperatorEvents:
    """Posts rate-limited Events, each Warning also as a log line; failures are logged, never raised."""

    kube: Kube
    limiter: RepeatWindow

    async def record(self, obj: Mapping[str, Any], type_: EventType, reason: str, message: str) -> None:
        meta = obj["metadata"]
        if not self.limiter.allow(str(meta.get("uid", "")), reason, message):
            return
        if type_ == "Warning":  # the same refusal in the log, as rate-limited as the Event
            kind = obj.get("kind", "object")
            logger.warning("%s %s/%s: %s: %s", kind, meta["namespace"], meta["name"], reason, message)
        body = event_manifest(
            InvolvedObject.of(obj), type_, reason, message, component=COMPONENT, now=datetime.now(UTC)
        )
        try:
            await self.kube.create_event(meta["namespace"], body)
        except client.ApiException as e:
            logger.warning("could not post event %s on %s/%s: %s", reason, meta["namespace"], meta["name"], e.reason)
