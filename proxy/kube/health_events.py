"""Circuit and failover-storm Events from this replica's view (the shell around ``event_rules``).

Each tick samples the runtime's ``provider_health()`` and ``failovers_by_profile()``,
lets the pure rules decide what is news and what the limiter lets through, and
posts the rest on the LLMProvider or RoutingProfile (whose uid it
reads first, so ``kubectl describe`` lists the Event).
"""

import logging
import time
from collections.abc import Callable
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException

from switchboard.api.base import API_GROUP, API_VERSION, GROUP_VERSION
from switchboard.api.events import InvolvedObject
from switchboard.api.status import CircuitState
from switchboard.proxy.kube.event_rules import EventThrottle, Notice, StormDetector, circuit_transitions
from switchboard.proxy.kube.events import EventPoster
from switchboard.proxy.kube.periodic import run_every
from switchboard.proxy.kube.rendered import ObjectRef
from switchboard.proxy.kube.runtime_view import ClusterRuntime

log = logging.getLogger(__name__)


class HealthEvents:
    def __init__(
        self,
        recorder: EventPoster,
        custom_api: Any,
        replica: str,
        runtime: ClusterRuntime,
        detector: StormDetector,
        limiter: EventThrottle,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._recorder = recorder
        self._api = custom_api
        self._replica = replica
        self._runtime = runtime
        self._detector = detector
        self._limiter = limiter
        self._clock = clock
        self._circuits: dict[str, CircuitState] = {}
        self.posted = 0

    async def run(self, interval_s: float) -> None:
        await run_every(interval_s, self.tick, "health events")

    async def tick(self) -> None:
        now = self._clock()
        health = self._runtime.provider_health()
        opened_closed = circuit_transitions(self._circuits, health, self._replica)
        self._circuits = {key: h.circuit for key, h in health.items()}
        storms = self._detector.observe(self._runtime.failovers_by_profile(), now, self._replica)
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
        involved = InvolvedObject(GROUP_VERSION, kind, ref.namespace, ref.name, uid)
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
