"""Circuit and failover-storm Events from this replica's view (the shell around ``event_rules``).

Each tick samples ``provider_health()`` and the per-profile totals of retried
attempts, lets the pure rules decide what is news and what the limiter lets
through, and posts the rest on the LLMProvider or RoutingProfile (whose uid it
reads first, so ``kubectl describe`` lists the Event).
"""

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException

from switchboard.api.base import API_GROUP, API_VERSION
from switchboard.api.status import CircuitState, ProviderHealth
from switchboard.proxy.kube.event_rules import EventLimiter, Notice, StormDetector, circuit_transitions
from switchboard.proxy.kube.events import EventRecorder, Involved
from switchboard.proxy.kube.periodic import run_every
from switchboard.proxy.kube.rendered import ObjectRef

log = logging.getLogger(__name__)

HealthSnapshot = Callable[[], Mapping[str, ProviderHealth]]
FailoverTotals = Callable[[], Mapping[str, int]]
"""Running count of retried attempts per profile key ("namespace/name")."""


class HealthEvents:
    def __init__(
        self,
        recorder: EventRecorder,
        custom_api: Any,
        replica: str,
        health: HealthSnapshot,
        failovers: FailoverTotals,
        detector: StormDetector,
        limiter: EventLimiter,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._recorder = recorder
        self._api = custom_api
        self._replica = replica
        self._health = health
        self._failovers = failovers
        self._detector = detector
        self._limiter = limiter
        self._clock = clock
        self._circuits: dict[str, CircuitState] = {}
        self.posted = 0

    async def run(self, interval_s: float) -> None:
        await run_every(interval_s, self.tick, "health events")

    async def tick(self) -> None:
        now = self._clock()
        health = self._health()
        opened_closed = circuit_transitions(self._circuits, health, self._replica)
        self._circuits = {key: h.circuit for key, h in health.items()}
        storms = self._detector.observe(self._failovers(), now, self._replica)
        for notice in opened_closed:
            await self.post("llmproviders", "LLMProvider", notice, now)
        for notice in storms:
            await self.post("routingprofiles", "RoutingProfile", notice, now)

    async def post(self, plural: str, kind: str, notice: Notice, now: float) -> bool:
        """Post ``notice`` on a custom resource, through the limiter; True when posted."""
        ref = ObjectRef.from_key(notice.key)
        if ref is None:  # a standalone provider or profile: no resource to describe
            return False
        admitted = self._limiter.admit(notice, now)
        if admitted is None:
            return False
        uid = await self._uid(plural, ref)
        if uid is None:
            return False
        involved = Involved(f"{API_GROUP}/{API_VERSION}", kind, ref, uid)
        await self._recorder.post(involved, admitted.type, admitted.reason, admitted.message)
        self.posted += 1
        return True

    async def _uid(self, plural: str, ref: ObjectRef) -> str | None:
        try:
            obj = await self._api.get_namespaced_custom_object(API_GROUP, API_VERSION, ref.namespace, plural, ref.name)
        except ApiException as e:
            if e.status != 404:
                log.warning("cannot read %s %s for an Event: %s", plural, ref, e.reason)
            return None
        except Exception as e:  # network trouble: the Event is a courtesy
            log.warning("cannot read %s %s for an Event: %s", plural, ref, e)
            return None
        return str(obj["metadata"]["uid"])
