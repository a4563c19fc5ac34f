"""The lease elector rides out an unreachable API server instead of crashing.

Regression: a connection error (not an ApiException) used to escape ``_tick``
and kill the operator process during an API server outage.
"""

from typing import Any

import aiohttp
import pytest

from switchboard.operator.ha import LeaseElector


class _UnreachableLeases:
    """Stands in for CoordinationV1Api while the API server is down."""

    calls = 0

    async def read_namespaced_lease(self, name: str, namespace: str) -> Any:
        self.calls += 1
        raise aiohttp.ClientConnectionError("Cannot connect to host 127.0.0.1:6443")

    async def patch_namespaced_lease(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionRefusedError(111, "Connection refused")


class _OfflineElector(LeaseElector):
    leases = _UnreachableLeases()

    @property
    def _leases(self) -> Any:
        return self.leases


@pytest.mark.parametrize("was_leader", [True, False])
async def test_leader_keeps_leadership_until_the_lease_would_expire(was_leader: bool) -> None:
    now = [100.0]
    elector = _OfflineElector(api=None, namespace="ns", identity="me", lease_seconds=15.0, monotonic=lambda: now[0])  # type: ignore[arg-type]
    elector.is_leader, elector._renewed = was_leader, 100.0

    await elector._tick()  # must not raise
    assert elector.is_leader is was_leader
    assert elector.leases.calls >= 1

    now[0] = 116.0  # past leaseSeconds since the last renewal: a standby may have taken over
    await elector._tick()
    assert elector.is_leader is False


async def test_release_during_an_outage_does_not_raise() -> None:
    elector = _OfflineElector(api=None, namespace="ns", identity="me")  # type: ignore[arg-type]
    elector.is_leader = True
    await elector._release()
    assert elector.is_leader is False
