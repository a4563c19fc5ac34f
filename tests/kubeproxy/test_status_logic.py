"""Pure status planning: own entry, aggregation across replicas, pruning, no-op detection."""

from datetime import UTC, datetime, timedelta
from typing import Any

from switchboard.api.aggregation import (
    SpendView,
    Timing,
    expire_stale,
    profile_status_patch,
    provider_status_patch,
    rfc3339,
    summarize,
)
from switchboard.api.profile import Budget
from switchboard.api.status import ProviderHealth, ReplicaSpend

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
TIMING = Timing(ttl=timedelta(seconds=60), heartbeat=timedelta(seconds=20))


def _apply(status: dict[str, Any], patch: dict[str, Any] | None) -> dict[str, Any]:
    """What a JSON merge patch of these top-level keys does to the status."""
    assert patch is not None
    return {**status, **patch}


def test_first_write_creates_entry_and_summary() -> None:
    health = ProviderHealth(circuit="closed", ema_ms=120.4, p50_ms=100.2, p95_ms=300.7, requests_per_minute=10)
    patch = provider_status_patch({}, "proxy-a", health, T0, TIMING)
    assert patch == {
        "replicas": [
            {
                "circuit": "closed",
                "emaMs": 120.0,
                "p50Ms": 100.0,
                "p95Ms": 301.0,
                "errorRate": 0.0,
                "requestsPerMinute": 10.0,
                "replica": "proxy-a",
                "updatedAt": "2026-01-01T12:00:00Z",
            }
        ],
        "summary": {
            "circuit": "closed",
            "emaMs": 120.0,
            "p50Ms": 100.0,
            "p95Ms": 301.0,
            "errorRate": 0.0,
            "requestsPerMinute": 10.0,
        },
    }


def test_unchanged_within_heartbeat_is_no_write_but_jitter_is_ignored_and_heartbeat_rewrites() -> None:
    status = _apply({}, provider_status_patch({}, "a", ProviderHealth(ema_ms=100.2), T0, TIMING))
    later = T0 + timedelta(seconds=5)
    assert provider_status_patch(status, "a", ProviderHealth(ema_ms=99.9), later, TIMING) is None
    refreshed = provider_status_patch(status, "a", ProviderHealth(ema_ms=100.0), T0 + timedelta(seconds=21), TIMING)
    assert refreshed is not None and refreshed["replicas"][0]["updatedAt"] == "2026-01-01T12:00:21Z"


def test_circuit_change_is_written_and_summary_takes_worst_across_replicas() -> None:
    status = _apply({}, provider_status_patch({}, "a", ProviderHealth(ema_ms=100, p95_ms=200), T0, TIMING))
    status = _apply(
        status,
        provider_status_patch(
            status, "b", ProviderHealth(circuit="open", ema_ms=300, p95_ms=900, last_error="HTTP 503"), T0, TIMING
        ),
    )
    assert [r["replica"] for r in status["replicas"]] == ["a", "b"]
    assert status["summary"]["circuit"] == "open"
    assert status["summary"]["emaMs"] == 200.0  # mean
    assert status["summary"]["p95Ms"] == 900.0  # max
    assert status["summary"]["lastError"] == "HTTP 503"
    # a's view did not change but the summary it would compute equals the stored one: nothing to do
    assert provider_status_patch(status, "a", ProviderHealth(ema_ms=100, p95_ms=200), T0, TIMING) is None
    patch = provider_status_patch(status, "a", ProviderHealth(circuit="half-open", ema_ms=100), T0, TIMING)
    assert patch is not None and patch["summary"]["circuit"] == "open"


def test_stale_replica_is_pruned_and_leaves_the_summary() -> None:
    status = _apply({}, provider_status_patch({}, "old", ProviderHealth(circuit="open"), T0, TIMING))
    now = T0 + timedelta(seconds=61)
    status = _apply(status, provider_status_patch(status, "new", ProviderHealth(), now, TIMING))
    assert [r["replica"] for r in status["replicas"]] == ["new"]
    assert status["summary"]["circuit"] == "closed"


def test_pruning_alone_triggers_a_write() -> None:
    status = _apply({}, provider_status_patch({}, "old", ProviderHealth(), T0, TIMING))
    status = _apply(status, provider_status_patch(status, "live", ProviderHealth(), T0 + timedelta(seconds=50), TIMING))
    patch = provider_status_patch(status, "live", ProviderHealth(), T0 + timedelta(seconds=61), TIMING)
    assert patch is not None and [r["replica"] for r in patch["replicas"]] == ["live"]


def test_malformed_entries_from_elsewhere_are_dropped_not_fatal() -> None:
    status = {"replicas": [{"replica": "x"}, "junk", {"replica": "y", "updatedAt": "not a time"}], "summary": "?"}
    patch = provider_status_patch(status, "a", ProviderHealth(), T0, TIMING)
    assert patch is not None and [r["replica"] for r in patch["replicas"]] == ["a"]


def test_summary_error_rate_weighted_by_traffic_and_rpm_summed() -> None:
    busy_failing = ProviderHealth(error_rate=1.0, requests_per_minute=10)
    status = _apply({}, provider_status_patch({}, "a", busy_failing, T0, TIMING))
    status = _apply(
        status, provider_status_patch(status, "b", ProviderHealth(error_rate=0.0, requests_per_minute=30), T0, TIMING)
    )
    assert status["summary"]["errorRate"] == 0.25
    assert status["summary"]["requestsPerMinute"] == 40.0
    assert summarize([]) is None


def test_profile_in_sync_count_follows_operator_hash() -> None:
    status: dict[str, Any] = {"configHash": "h2"}
    status = _apply(status, profile_status_patch(status, "a", "h1", T0, TIMING))
    assert status["inSyncReplicas"] == 0
    status = _apply(status, profile_status_patch(status, "b", "h2", T0, TIMING))
    assert status["inSyncReplicas"] == 1
    status = _apply(status, profile_status_patch(status, "a", "h2", T0, TIMING))
    assert status["inSyncReplicas"] == 2
    assert [(r["replica"], r["configHash"]) for r in status["replicas"]] == [("a", "h2"), ("b", "h2")]
    assert profile_status_patch(status, "a", "h2", T0 + timedelta(seconds=1), TIMING) is None
    # the operator publishes a new hash: the count must be corrected even though a's hash did not change
    status["configHash"] = "h3"
    patch = profile_status_patch(status, "a", "h2", T0 + timedelta(seconds=1), TIMING)
    assert patch is not None and patch["inSyncReplicas"] == 0


def test_profile_stale_replica_pruned() -> None:
    status: dict[str, Any] = {"configHash": "h"}
    status = _apply(status, profile_status_patch(status, "gone", "h", T0, TIMING))
    now = T0 + timedelta(seconds=120)
    status = _apply(status, profile_status_patch(status, "a", "h", now, TIMING))
    assert [r["replica"] for r in status["replicas"]] == ["a"] and status["inSyncReplicas"] == 1
    assert status["replicas"][0]["updatedAt"] == rfc3339(now)


def test_the_operator_expires_entries_when_every_replica_is_gone() -> None:
    old, fresh = rfc3339(T0 - timedelta(seconds=120)), rfc3339(T0 - timedelta(seconds=5))
    health = {"circuit": "open", "errorRate": 1.0, "requestsPerMinute": 3.0}
    provider = {
        "summary": {"circuit": "open", "errorRate": 1.0, "requestsPerMinute": 3.0},
        "replicas": [{"replica": "gone", "updatedAt": old, **health}],
    }
    assert expire_stale("llmproviders", provider, T0, TIMING.ttl) == {"replicas": [], "summary": None}
    alive = {**provider, "replicas": [*provider["replicas"], {"replica": "up", "updatedAt": fresh, **health}]}
    patch = expire_stale("llmproviders", alive, T0, TIMING.ttl)
    assert patch is not None and [r["replica"] for r in patch["replicas"]] == ["up"]
    assert patch["summary"]["circuit"] == "open"
    assert expire_stale("llmproviders", {"replicas": alive["replicas"][1:]}, T0, TIMING.ttl) is None
    profile = {
        "configHash": "h",
        "inSyncReplicas": 2,
        "replicas": [{"replica": "gone", "configHash": "h", "updatedAt": old}],
    }
    assert expire_stale("routingprofiles", profile, T0, TIMING.ttl) == {"replicas": [], "inSyncReplicas": 0}
    assert expire_stale("routingprofiles", {"configHash": "h"}, T0, TIMING.ttl) is None
    malformed = {"replicas": [{"replica": "x"}]}  # unreadable entries go too
    assert expire_stale("routingprofiles", malformed, T0, TIMING.ttl) == {"replicas": [], "inSyncReplicas": 0}


def _spend(spent: float, shared: bool, window: str = "m202601") -> SpendView:
    reading = ReplicaSpend(window=window, spent_usd=spent, shared=shared)
    return SpendView(reading, Budget(period="month", limit_usd=50, soft_percent=50), datetime(2026, 2, 1, tzinfo=UTC))


def test_budget_status_is_the_freshest_fleet_read_with_a_store_and_the_sum_of_replicas_without() -> None:
    status: dict[str, Any] = {}
    status = _apply(status, profile_status_patch(status, "a", "h", T0, TIMING, _spend(10, True)))
    status = _apply(status, profile_status_patch(status, "b", "h", T0, TIMING, _spend(12, True)))
    assert status["budget"]["spentUsd"] == 12  # both read one counter: the larger read is the fresher
    assert status["budget"]["spend"] == "$12/$50 (24%)" and status["budget"]["state"] == "ok"
    alone: dict[str, Any] = {}
    alone = _apply(alone, profile_status_patch(alone, "a", "h", T0, TIMING, _spend(10, False)))
    alone = _apply(alone, profile_status_patch(alone, "b", "h", T0, TIMING, _spend(20, False)))
    assert (alone["budget"]["spentUsd"], alone["budget"]["state"], alone["budget"]["shared"]) == (30, "soft", False)
    # A reading of last month does not count in this one; an unchanged view writes nothing.
    alone = _apply(alone, profile_status_patch(alone, "a", "h", T0, TIMING, _spend(1, False, "m202602")))
    assert alone["budget"]["spentUsd"] == 1 and alone["budget"]["resetsAt"] == "2026-02-01T00:00:00Z"
    assert profile_status_patch(alone, "a", "h", T0, TIMING, _spend(1, False, "m202602")) is None
