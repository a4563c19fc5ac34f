"""High availability: two (or more) replicas, one active, via a coordination.k8s.io Lease.

Every replica watches and keeps its indices warm; only the Lease holder writes.
Expiry is judged like client-go does: by how long the Lease record has gone
unchanged *as observed locally*, so clock skew between replicas does not matter.
A stopping leader releases the Lease so the standby takes over at once.

No split brain: a leader counts its leadership from the *start* of its last
successful renewal, and stops acting ``renew_deadline`` after it (two thirds of
the Lease by default, like client-go), whatever the API server does meanwhile:
a failed renewal never extends it, and ``is_leader`` is read off the clock, so
even a renewal call that hangs cannot keep a cut-off leader acting. A standby
takes over only after the record stayed unchanged for the whole Lease duration
from when *it* saw it, which is later still.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from kubernetes_asyncio import client

from switchboard.api.kube_client import MERGE_PATCH
from switchboard.api.timestamps import rfc3339_micro

logger = logging.getLogger(__name__)
UNREACHABLE = (aiohttp.ClientError, OSError, TimeoutError)  # the API server is down or cut off

Record = tuple[str | None, str | None, int]  # holder, renewTime, transitions


@dataclass
class Observation:
    """The Lease record last seen and when (local monotonic clock) it last changed."""

    record: Record | None = None
    since: float = 0.0

    def update(self, record: Record, now: float) -> None:
        if record != self.record:
            self.record, self.since = record, now


def may_acquire(obs: Observation, identity: str, lease_seconds: float, now: float) -> bool:
    """Pure: whether this replica may (re)take the Lease given what it observed."""
    if obs.record is None:
        return True
    holder = obs.record[0]
    return not holder or holder == identity or now - obs.since > lease_seconds


@dataclass
class LeaseElector:
    """Answers ``is_leader``; run ``run()`` as a task beside the operator."""

    api: client.ApiClient
    namespace: str
    identity: str
    name: str = "switchboard-operator"
    lease_seconds: float = 15.0
    retry_seconds: float = 2.0
    renew_deadline_seconds: float | None = None  # default: two thirds of lease_seconds
    monotonic: Callable[[], float] = time.monotonic
    _leading: bool = False
    _renewed: float = 0.0  # monotonic time the last successful renewal *started*
    _obs: Observation = field(default_factory=Observation)
    _reported: bool = False  # leadership as last logged
    _unreachable: bool = False  # outage as last logged

    @property
    def renew_deadline(self) -> float:
        deadline = self.renew_deadline_seconds
        return deadline if deadline is not None else self.lease_seconds * 2 / 3

    @property
    def is_leader(self) -> bool:
        """Whether to act now: held, and renewed less than ``renew_deadline`` ago."""
        return self._leading and self.monotonic() - self._renewed < self.renew_deadline

    @property
    def _leases(self) -> Any:
        return client.CoordinationV1Api(self.api)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                await self._tick()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.retry_seconds)
        finally:
            await self._release()

    async def _tick(self) -> None:
        started = self.monotonic()
        try:
            acquired = await asyncio.wait_for(self._try_acquire(started), self.renew_deadline)
        except (client.ApiException, *UNREACHABLE) as e:  # leadership runs out on the clock alone
            self._outage(e)
        else:
            self._outage(None)
            self._leading = acquired
            if acquired:
                self._renewed = started
        self._report()

    def _outage(self, error: BaseException | None) -> None:
        """One log line when renewals start failing and one when they work again."""
        if error is not None and not self._unreachable:
            detail = f"{error.status} {error.reason}" if isinstance(error, client.ApiException) else repr(error)
            logger.warning("lease %s/%s cannot be renewed: %s", self.namespace, self.name, detail)
        elif error is None and self._unreachable:
            logger.info("lease %s/%s reachable again", self.namespace, self.name)
        self._unreachable = error is not None

    def _report(self) -> None:
        leader = self.is_leader
        if leader != self._reported:
            verb = "took" if leader else "lost"
            logger.info("%s %s leadership of %s/%s", self.identity, verb, self.namespace, self.name)
        self._reported = leader

    async def _try_acquire(self, now: float) -> bool:
        try:
            lease = await self._leases.read_namespaced_lease(self.name, self.namespace)
        except client.ApiException as e:
            if e.status != 404:
                raise
            return await self._create()
        spec = lease.spec
        self._obs.update((spec.holder_identity, str(spec.renew_time), spec.lease_transitions or 0), now)
        if not may_acquire(self._obs, self.identity, self.lease_seconds, now):
            return False
        renewing = spec.holder_identity == self.identity
        transitions = (spec.lease_transitions or 0) + (not renewing)
        stamp = rfc3339_micro(datetime.now(UTC))
        acquired = rfc3339_micro(spec.acquire_time) if renewing and spec.acquire_time else stamp
        body = {
            "metadata": {"name": self.name, "resourceVersion": lease.metadata.resource_version},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": int(self.lease_seconds),
                "acquireTime": acquired,
                "renewTime": stamp,
                "leaseTransitions": transitions,
            },
        }
        try:
            await self._leases.replace_namespaced_lease(self.name, self.namespace, body)
        except client.ApiException as e:
            if e.status == 409:  # another replica won the race
                return False
            raise
        return True

    async def _create(self) -> bool:
        stamp = rfc3339_micro(datetime.now(UTC))
        spec = {"holderIdentity": self.identity, "leaseDurationSeconds": int(self.lease_seconds)}
        body = {"metadata": {"name": self.name}, "spec": spec | {"acquireTime": stamp, "renewTime": stamp}}
        try:
            await self._leases.create_namespaced_lease(self.namespace, body)
        except client.ApiException as e:
            if e.status == 409:
                return False
            raise
        return True

    async def _release(self) -> None:
        if not self.is_leader:
            return
        self._leading = False
        patch = {"spec": {"holderIdentity": None}}
        try:
            await self._leases.patch_namespaced_lease(self.name, self.namespace, patch, _content_type=MERGE_PATCH)
            logger.info("%s released %s/%s", self.identity, self.namespace, self.name)
        except client.ApiException as e:
            logger.warning("could not release lease: %s %s", e.status, e.reason)
        except UNREACHABLE as e:
            logger.warning("could not release lease, API server unreachable: %s", e)
