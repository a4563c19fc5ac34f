"""Events about fleet-wide state: the state store going down and coming back, and budgets crossing
their soft threshold or their limit (the ``notify`` action, and every other).

Store health is news about this replica, so it is posted on the replica's Pod (in the release
namespace); a budget is the profile's, so it is posted on the RoutingProfile, once per window and
state for the whole fleet when the store can say so (``SET NX``), else once per replica.
"""

import time
from collections.abc import Callable
from datetime import UTC, datetime

from switchboard.api.events import InvolvedObject
from switchboard.api.object_key import object_key
from switchboard.proxy.fleet.admission import FleetLimiter
from switchboard.proxy.fleet.store import SHARED_STATE, SPEND_KEPT_S
from switchboard.proxy.kube.event_rules import EventThrottle, Notice, store_announcements
from switchboard.proxy.kube.events import EventPoster
from switchboard.proxy.kube.health_events import HealthEvents
from switchboard.proxy.kube.periodic import run_every

NOTICED_PREFIX = "sb:noticed:"


class FleetEvents:
    def __init__(
        self,
        fleet: FleetLimiter,
        *,
        poster: EventPoster,
        profiles: HealthEvents,
        throttle: EventThrottle,
        pod: InvolvedObject,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fleet = fleet
        self._poster = poster
        self._profiles = profiles
        self._throttle = throttle
        self._pod = pod  # with its uid (Downward API) when known, so `kubectl describe pod` lists the Events
        self._pod_key = object_key(pod.namespace, pod.name)
        self._clock = clock
        self._posted_up = True
        self._posted_outages = 0
        self.posted = 0

    async def run(self, interval_s: float) -> None:
        await run_every(interval_s, self.tick, "fleet events")

    async def tick(self) -> None:
        now = self._clock()
        await self._store_health(now)
        await self._budgets(now)

    async def _store_health(self, now: float) -> None:
        store = self._fleet.store
        if store is None:
            return
        outages = store.outages
        for up in store_announcements(self._posted_up, self._posted_outages, store.up, outages):
            if up:
                message = (
                    f"replica {self._pod.name}: state store {store.settings.safe_url} reachable again: {SHARED_STATE}"
                )
                notice = Notice(self._pod_key, "Normal", "StateStoreUp", message)
            else:
                detail = store.reason if not store.up else f"state store {store.settings.safe_url} was unavailable"
                notice = Notice(self._pod_key, "Warning", "StateStoreDown", f"replica {self._pod.name}: {detail}")
            admitted = self._throttle.admit(notice, now)
            if admitted is None:
                return  # held back: told at a later tick, with the count held back
            await self._poster.post(
                self._pod,
                admitted.type,
                admitted.reason,
                admitted.message,
            )
            self.posted += 1
            self._posted_up = up
            self._posted_outages = outages

    async def _budgets(self, now: float) -> None:
        notices = self._fleet.notices
        while notices:
            news = notices.popleft()
            line = news.line
            if line.scope != "profile":
                continue  # a client key's budget has no resource to describe (the warning is logged)
            store = self._fleet.store
            if store is not None:
                ttl = int((line.reset_at - datetime.now(UTC)).total_seconds()) + SPEND_KEPT_S
                first = await store.claim_once(f"{NOTICED_PREFIX}{line.key}:{news.state}", max(ttl, 1))
                if first is False:
                    continue  # another replica told it this window
            notice = Notice(line.owner_key, "Warning", news.reason, news.message)
            if await self._profiles.post("routingprofiles", "RoutingProfile", notice, now):
                self.posted += 1
