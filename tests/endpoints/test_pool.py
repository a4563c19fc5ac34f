"""Endpoint pools: following slices, ejection per endpoint, saturation, and the spill reasons."""

import random
from typing import Any

from switchboard.api.endpoints import EndpointPicking
from switchboard.api.provider import ProviderConfig
from switchboard.proxy.endpoints.pool import Address, EndpointPool
from switchboard.proxy.endpoints.slices import addresses
from switchboard.proxy.endpoints.table import EndpointTable

RNG = random.Random(0)


def pool_of(n: int, **picking: Any) -> EndpointPool:
    pool = EndpointPool(EndpointPicking.model_validate(picking))
    pool.sync([Address(f"10.0.0.{i}", 8000) for i in range(1, n + 1)])
    return pool


def test_consecutive_failures_eject_one_endpoint_and_a_probe_brings_it_back() -> None:
    pool = pool_of(3, ejection={"consecutiveFailures": 2, "ejectionSeconds": 5})
    bad = pool.members["10.0.0.1:8000"]
    for now in (1.0, 2.0):
        pool.started(bad, now)
        pool.finished(bad, now, failed=True)
    assert [m.key for m in pool.usable(2.0)] == ["10.0.0.2:8000", "10.0.0.3:8000"]
    assert pool.unavailable(2.0) is None
    assert next(m.key for m in pool.usable(7.5)) == "10.0.0.1:8000"  # half-open: one probe call allowed
    pool.started(bad, 7.5)
    pool.finished(bad, 7.6, failed=False)
    assert bad.state(pool.picking, 7.6) == "ready"


def test_a_provider_is_unavailable_only_when_no_endpoint_can_serve() -> None:
    pool = pool_of(2, ejection={"consecutiveFailures": 1})
    first, second = pool.members.values()
    pool.started(first, 1.0)
    pool.finished(first, 1.0, failed=True)
    assert pool.unavailable(1.0) is None
    pool.started(second, 1.0)
    pool.finished(second, 1.0, failed=True)
    reason = pool.unavailable(1.0)
    assert reason is not None and reason.kind == "all_ejected"


def test_neutral_outcomes_never_eject() -> None:
    pool = pool_of(1, ejection={"consecutiveFailures": 1})
    member = pool.members["10.0.0.1:8000"]
    for _ in range(5):
        pool.started(member, 1.0)
        pool.finished(member, 1.0, failed=None)
    assert pool.unavailable(1.0) is None


def test_in_flight_saturation_spills_and_capacity_returning_ends_it() -> None:
    pool = pool_of(2, saturation={"maxInFlight": 1})
    a = pool.choose(1.0, RNG, None, frozenset())
    assert a is not None
    pool.started(a, 1.0)
    b = pool.choose(1.0, RNG, None, frozenset())
    assert b is not None and b is not a
    pool.started(b, 1.0)
    reason = pool.unavailable(1.0)
    assert reason is not None and reason.kind == "saturated"
    assert reason.text == "saturated: 2 of 2 endpoints full (in flight >= 1)"
    assert pool.choose(1.0, RNG, None, frozenset()) is None
    pool.finished(a, 2.0, failed=False)
    assert pool.unavailable(2.0) is None


def test_scraped_queue_saturation() -> None:
    pool = pool_of(1, saturation={"maxWaiting": 4, "maxKvCacheUsage": 0.9})
    member = pool.members["10.0.0.1:8000"]
    member.waiting, member.kv_cache = 3, 0.5
    assert pool.unavailable(0.0) is None
    member.waiting = 4
    reason = pool.unavailable(0.0)
    assert reason is not None and "waiting >= 4" in reason.text
    member.waiting, member.kv_cache = 0, 0.95
    assert pool.unavailable(0.0) is not None


def test_removed_endpoint_finishes_its_in_flight_call_then_leaves() -> None:
    pool = pool_of(2)
    gone = pool.members["10.0.0.1:8000"]
    pool.started(gone, 1.0)
    assert pool.sync([Address("10.0.0.2", 8000)]) == []  # still in flight: kept, but never picked
    assert [m.key for m in pool.usable(1.0)] == ["10.0.0.2:8000"]
    assert pool.finished(gone, 2.0, failed=False) is True
    assert list(pool.members) == ["10.0.0.2:8000"]


def test_not_ready_and_empty_services_say_why() -> None:
    pool = EndpointPool(EndpointPicking())
    pool.sync([])
    reason = pool.unavailable(0.0)
    assert reason is not None and reason.kind == "no_endpoints"
    pool.sync([Address("10.0.0.1", 8000, ready=False)])
    reason = pool.unavailable(0.0)
    assert reason is not None and (reason.kind, reason.text) == ("no_ready_endpoints", "no ready endpoints (0/1)")


SLICE = {
    "metadata": {"name": "vllm-abc", "namespace": "ml", "labels": {"kubernetes.io/service-name": "vllm"}},
    "addressType": "IPv4",
    "ports": [{"name": "http", "port": 8000, "protocol": "TCP"}, {"name": "metrics", "port": 9000}],
    "endpoints": [
        {"addresses": ["10.0.0.1"], "conditions": {"ready": True}},
        {"addresses": ["10.0.0.2"], "conditions": {"ready": False}},
        {"addresses": ["10.0.0.3"], "conditions": {"ready": False, "terminating": True}},
        {"addresses": ["10.0.0.4"]},  # no conditions: ready
    ],
}


def test_slices_are_read_like_kube_proxy_reads_them() -> None:
    found = {a.key: (a.ready, a.terminating) for a in addresses([SLICE], "http", None)}
    assert found == {
        "10.0.0.1:8000": (True, False),
        "10.0.0.2:8000": (False, False),
        "10.0.0.3:8000": (False, True),
        "10.0.0.4:8000": (True, False),
    }
    assert [a.port for a in addresses([SLICE], "metrics", None)] == [9000] * 4
    assert addresses([SLICE], None, 8000)[0].port == 8000
    assert addresses([{**SLICE, "addressType": "FQDN"}], "http", None) == []


def provider(**extra: Any) -> ProviderConfig:
    spec = {"name": "local", "namespace": "ml", "type": "openai-compatible", "models": [{"name": "m"}]}
    return ProviderConfig.model_validate({**spec, "service": {"name": "vllm", "port": "http"}, **extra})


def test_table_follows_slices_per_service_and_namespace() -> None:
    table = EndpointTable()
    table.configure([provider()])
    assert table.services == frozenset({"ml/vllm"})
    other_namespace = {**SLICE, "metadata": {**SLICE["metadata"], "namespace": "other"}}  # type: ignore[dict-item]
    table.update([other_namespace])
    assert table.pools["ml/local"].members == {}
    table.update([SLICE])
    health = table.health("ml/local", 0.0)
    assert health is not None and health[0] == "2/3"  # terminating ones are not counted
    dropped = table.update([])
    assert sorted(dropped) == [("ml/local", f"10.0.0.{i}:8000") for i in range(1, 5)]
    assert table.configure([]) == []
    assert table.pools == {}
