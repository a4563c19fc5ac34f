"""The lease elector under API-server trouble: never crashes, never splits the brain.

Time is a fake monotonic clock advanced tick by tick (one elector tick per second,
as the real loop does every ``retry_seconds``), never in one jump, so a failed
renewal that extended leadership would show.
"""

import copy
import logging
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client

from switchboard.operator.ha import LeaseElector


class FakeLeases:
    """A Lease store with optimistic concurrency, like CoordinationV1Api; ``cut_off`` callers fail."""

    def __init__(self) -> None:
        self.lease: Any = None
        self.version = 0
        self.cut_off: set[str] = set()

    def view(self, caller: str) -> "LeaseView":
        return LeaseView(self, caller)


class LeaseView:
    def __init__(self, store: FakeLeases, caller: str) -> None:
        self.store, self.caller = store, caller

    def _check(self) -> None:
        if self.caller in self.store.cut_off:
            raise aiohttp.ClientConnectionError("Cannot connect to host 127.0.0.1:6443")

    async def read_namespaced_lease(self, name: str, namespace: str) -> Any:
        self._check()
        if self.store.lease is None:
            raise client.ApiException(status=404, reason="Not Found")
        return copy.deepcopy(self.store.lease)

    def _store(self, body: dict[str, Any]) -> None:
        self.store.version += 1
        spec = body["spec"]
        self.store.lease = SimpleNamespace(
            metadata=SimpleNamespace(resource_version=str(self.store.version)),
            spec=SimpleNamespace(
                holder_identity=spec.get("holderIdentity"),
                renew_time=spec.get("renewTime"),
                acquire_time=None,
                lease_transitions=spec.get("leaseTransitions", 0),
            ),
        )

    async def create_namespaced_lease(self, namespace: str, body: dict[str, Any]) -> Any:
        self._check()
        if self.store.lease is not None:
            raise client.ApiException(status=409, reason="Conflict")
        self._store(body)

    async def replace_namespaced_lease(self, name: str, namespace: str, body: dict[str, Any]) -> Any:
        self._check()
        if body["metadata"]["resourceVersion"] != self.store.lease.metadata.resource_version:
            raise client.ApiException(status=409, reason="Conflict")
        self._store(body)

    async def patch_namespaced_lease(self, name: str, namespace: str, body: dict[str, Any], **_: Any) -> Any:
        self._check()
        self.store.lease.spec.holder_identity = body["spec"]["holderIdentity"]


class Clock:
    def __init__(self, start: float = 100.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def elector(store: FakeLeases, identity: str, clock: Clock, lease_seconds: float = 15.0) -> LeaseElector:
    leases = store.view(identity)

    class Wired(LeaseElector):
        @property
        def _leases(self) -> Any:
            return leases

    return Wired(api=None, namespace="ns", identity=identity, lease_seconds=lease_seconds, monotonic=clock)  # type: ignore[arg-type]


async def test_a_leader_cut_off_stops_acting_before_its_lease_can_expire() -> None:
    store, clock = FakeLeases(), Clock()
    leader = elector(store, "a", clock)
    await leader._tick()
    assert leader.is_leader
    renewed_at = clock.now
    store.cut_off.add("a")
    history = []
    for _ in range(30):  # tick by tick: every failed renewal is one more chance to (wrongly) extend
        clock.now += 1.0
        await leader._tick()
        history.append((clock.now - renewed_at, leader.is_leader))
    acting = [age for age, leading in history if leading]
    assert acting and max(acting) < 15.0 * 2 / 3  # stopped at the renew deadline, well before expiry
    assert all(not leading for age, leading in history if age >= 10.0)


async def test_only_the_leader_cut_off_no_moment_with_two_leaders() -> None:
    store, clock = FakeLeases(), Clock()
    a, b = elector(store, "a", clock), elector(store, "b", clock)
    await a._tick()
    await b._tick()
    assert a.is_leader and not b.is_leader
    store.cut_off.add("a")  # a partition: only the leader loses the API server
    took_over = None
    for step in range(1, 61):
        for half in (0.5, 0.5):  # check between ticks too: is_leader is read off the clock
            clock.now += half
            assert not (a.is_leader and b.is_leader), f"two leaders at +{step}s"
        await a._tick()
        await b._tick()
        assert not (a.is_leader and b.is_leader), f"two leaders at +{step}s"
        if b.is_leader and took_over is None:
            took_over = step
    assert took_over is not None and 15 <= took_over <= 20  # the standby waits out the whole Lease
    store.cut_off.clear()  # a is back: it sees b's record and stays standby
    for _ in range(5):
        clock.now += 1.0
        await a._tick()
        await b._tick()
        assert b.is_leader and not a.is_leader


@pytest.mark.parametrize("error", [aiohttp.ClientConnectionError("refused"), client.ApiException(503, "Unavailable")])
async def test_errors_never_escape_and_are_logged_once_per_outage(error: Exception, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="switchboard.operator.ha")
    store, clock = FakeLeases(), Clock()
    leader = elector(store, "a", clock)
    await leader._tick()
    assert leader.is_leader
    failed: list[Exception] = []  # this test's own record: each parametrisation starts from nothing

    async def failing(*_: Any, **__: Any) -> Any:
        failed.append(error)
        raise error

    view: Any = store.view("a")
    healthy = view.read_namespaced_lease
    leader_leases: Any = leader._leases
    leader_leases.read_namespaced_lease = failing
    for _ in range(10):
        clock.now += 1.0
        await leader._tick()  # must not raise
    assert len(failed) == 10 and not leader.is_leader  # every tick met the outage; it stepped down
    leader_leases.read_namespaced_lease = healthy
    clock.now += 1.0
    await leader._tick()
    outage_lines = [r for r in caplog.records if "cannot be renewed" in r.message]
    assert len(outage_lines) == 1
    assert sum("reachable again" in r.message for r in caplog.records) == 1
    assert leader.is_leader  # renewed again: it had stepped down meanwhile and took back its own Lease


async def test_release_during_an_outage_does_not_raise() -> None:
    store, clock = FakeLeases(), Clock()
    leader = elector(store, "a", clock)
    await leader._tick()
    store.cut_off.add("a")
    await leader._release()
    assert leader.is_leader is False
