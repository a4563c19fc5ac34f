"""Pushes this replica's view into LLMProvider and RoutingProfile status.

The pure planners in ``switchboard.api.aggregation`` decide each write; this shell does the
I/O: one tick every ``interval`` (so at most one write per object per replica
per interval), a local skip when nothing changed since the last write (no GET
either), and a resourceVersion-guarded merge patch retried on 409 Conflict.
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

from switchboard.api.aggregation import SpendView, Timing, normalize, profile_status_patch, provider_status_patch
from switchboard.api.base import API_GROUP, API_VERSION
from switchboard.api.kube_client import MERGE_PATCH
from switchboard.api.status import ProviderHealth
from switchboard.proxy.kube.periodic import run_every
from switchboard.proxy.kube.rendered import ObjectRef
from switchboard.proxy.kube.runtime_view import ClusterRuntime

log = logging.getLogger(__name__)

ServedHashes = Callable[[], Mapping[ObjectRef, str]]
Planner = Callable[[Mapping[str, Any], datetime], dict[str, Any] | None]


@dataclass(slots=True)
class WriteStats:
    patches: int = 0
    conflicts: int = 0
    skipped: int = 0
    failures: int = 0


class StatusReporter:
    def __init__(
        self,
        custom_api: Any,
        replica: str,
        runtime: ClusterRuntime,
        served: ServedHashes,
        timing: Timing,
        interval_s: float,
        max_attempts: int = 5,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._api = custom_api
        self._replica = replica
        self._runtime = runtime
        self._served = served
        self._timing = timing
        self._interval_s = interval_s
        self._max_attempts = max_attempts
        self._clock = clock
        self._last: dict[tuple[str, ObjectRef], tuple[object, datetime]] = {}
        self.stats = WriteStats()

    async def run(self) -> None:
        await run_every(self._interval_s, self.tick, "status")

    async def tick(self) -> None:
        """One round: every provider this replica routes to, every profile it serves."""
        for key, health in sorted(self._runtime.provider_health().items()):
            ref = ObjectRef.from_key(key)
            if ref is not None:  # standalone providers have no resource to report on
                mine = normalize(health)
                await self._maybe_write("llmproviders", ref, mine, self._provider_planner(mine))
        spend = await self._runtime.profile_spend()  # one store read for every profile
        for ref, digest in sorted(self._served().items()):
            view = spend.get(str(ref))
            await self._maybe_write("routingprofiles", ref, (digest, view), self._profile_planner(digest, view))

    def _provider_planner(self, health: ProviderHealth) -> Planner:
        def plan(status: Mapping[str, Any], now: datetime) -> dict[str, Any] | None:
            return provider_status_patch(status, self._replica, health, now, self._timing)

        return plan

    def _profile_planner(self, served_hash: str, spend: SpendView | None) -> Planner:
        def plan(status: Mapping[str, Any], now: datetime) -> dict[str, Any] | None:
            return profile_status_patch(status, self._replica, served_hash, now, self._timing, spend)

        return plan

    async def _maybe_write(self, plural: str, ref: ObjectRef, value: object, plan: Planner) -> None:
        now = self._clock()
        last = self._last.get((plural, ref))
        if last is not None and last[0] == value and now - last[1] < self._timing.heartbeat:
            self.stats.skipped += 1
            return
        try:
            if await self._write(plural, ref, plan):
                self._last[(plural, ref)] = (value, now)
        except (ApiException, aiohttp.ClientError, OSError, TimeoutError) as e:
            self.stats.failures += 1
            log.warning("status of %s %s not written: %s", plural, ref, getattr(e, "reason", e))

    async def _write(self, plural: str, ref: ObjectRef, plan: Planner) -> bool:
        """Read-modify-write guarded by resourceVersion; True when the status is current."""
        for _ in range(self._max_attempts):
            try:
                obj = await self._api.get_namespaced_custom_object(
                    API_GROUP, API_VERSION, ref.namespace, plural, ref.name
                )
            except ApiException as e:
                if e.status == 404:
                    return False  # deleted, or not created yet: nothing to report on
                raise
            patch = plan(obj.get("status") or {}, self._clock())
            if patch is None:
                return True
            body = {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]}, "status": patch}
            try:
                await self._api.patch_namespaced_custom_object_status(
                    API_GROUP, API_VERSION, ref.namespace, plural, ref.name, body, _content_type=MERGE_PATCH
                )
            except ApiException as e:
                if e.status == 409:
                    self.stats.conflicts += 1
                    continue
                raise
            self.stats.patches += 1
            return True
        log.warning("status of %s %s: still conflicting after %d attempts", plural, ref, self._max_attempts)
        return False
