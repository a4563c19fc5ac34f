"""The admission rule: pure ``decide``, and its Lua twin in a real redis-server deciding the same."""

import random
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from switchboard.api.profile import Budget
from switchboard.proxy.fleet.buckets import Session, Slots, decide, limit_buckets
from switchboard.proxy.fleet.budget import budget_line, window
from switchboard.proxy.fleet.store import FleetStore, StoreSettings
from tests.fixtures.redis import RedisFactory


def slots(tokens: int = 10) -> Slots:
    return Slots(
        limit_buckets("profile", "p", 5, 100, tokens),
        (
            ("a", limit_buckets("provider", "a", 2, None, tokens)),
            ("b", ()),
            ("c", limit_buckets("provider", "c", 1, None, tokens)),
        ),
    )


def test_the_first_candidate_with_room_is_charged_and_full_ones_are_reported() -> None:
    s = slots()
    levels = {b.key: float(b.per_minute) for b in s.buckets} | {"sb:rl:provider:a:r": 0.5}
    verdict = decide(s, levels, {})
    assert verdict.admitted and verdict.chosen == "b"
    assert verdict.admitting == {"b", "c"}
    assert {lv.bucket.unit: lv.remaining for lv in verdict.levels} == {"requests": 4, "tokens": 90}


def test_a_full_mandatory_bucket_refuses_with_the_time_it_needs() -> None:
    s = slots(tokens=30)
    levels = {b.key: float(b.per_minute) for b in s.buckets} | {"sb:rl:profile:p:t": 10.0}
    verdict = decide(s, levels, {})
    assert not verdict.admitted and verdict.chosen is None
    assert verdict.retry_after_s == 20 * 60 / 100  # 20 tokens missing at 100/min


def test_a_budget_past_its_limit_refuses_until_the_window_resets() -> None:
    now = datetime(2026, 11, 29, 22, 0, tzinfo=UTC)
    line = budget_line("profile", "p", Budget(period="day", limit_usd=10), now)
    s = Slots((), (), (line,))
    assert decide(s, {}, {line.key: 7.9}).admitted
    assert decide(s, {}, {line.key: 8.0}).spent[0][2] == "soft"
    refused = decide(s, {}, {line.key: 10.0})
    assert not refused.admitted and refused.over_budget == line
    assert window("month", now) == ("m202611", datetime(2026, 12, 1, tzinfo=UTC))
    assert window("day", datetime(2026, 12, 31, 23, 59, tzinfo=UTC))[1] == datetime(2027, 1, 1, tzinfo=UTC)


async def test_the_lua_script_decides_and_charges_like_decide(redis_server: RedisFactory) -> None:
    server = await redis_server()
    store = FleetStore(StoreSettings(server.url, timeout_s=1.0), metrics=CollectorRegistry())
    rng = random.Random(3)
    try:
        await store.connect()
        for _ in range(60):
            tokens = rng.choice([1, 10, 40])
            s = slots(tokens)
            reply = await store.reserve(s)
            assert reply is not None
            verdict = decide(s, reply.levels, {})
            assert (verdict.admitted, verdict.chosen) == (reply.admitted, reply.chosen)
    finally:
        await store.close()


def test_a_bound_session_keeps_its_provider_while_it_admits_else_takes_the_first_that_does() -> None:
    s = slots()
    full = {b.key: float(b.per_minute) for b in s.buckets}
    assert decide(s, full, {}, bound="c").chosen == "c"
    assert decide(s, full | {"sb:rl:provider:c:r": 0.0}, {}, bound="c").chosen == "a"
    assert decide(s, full, {}, bound="gone").chosen == "a"


async def test_the_lua_script_binds_sessions_like_decide_and_a_dry_run_changes_nothing(
    redis_server: RedisFactory,
) -> None:
    server = await redis_server()
    store = FleetStore(StoreSettings(server.url, timeout_s=1.0), metrics=CollectorRegistry())
    client = server.client()
    base = slots()
    session = Slots(base.mandatory, base.candidates, session=Session("sb:aff:t/p:s1", 60))
    try:
        await store.connect()
        await client.set("sb:aff:t/p:s1", "c")
        dry = await store.reserve(session, dry=True)
        assert dry is not None and (dry.admitted, dry.chosen, dry.bound) == (True, "c", "c")
        assert await client.exists("sb:rl:provider:c:r") == 0  # a dry run charges nothing
        first = await store.reserve(session)
        assert first is not None and (first.chosen, first.bound) == ("c", "c")
        # c (1 RPM) is now empty: the session yields to the first provider with room, and is bound there.
        moved = await store.reserve(session)
        assert moved is not None and (moved.chosen, moved.bound) == ("a", "c")
        assert decide(session, moved.levels, {}, bound=moved.bound).chosen == "a"
        assert await client.get("sb:aff:t/p:s1") == "a"
        assert 0 < await client.pttl("sb:aff:t/p:s1") <= 60_000
    finally:
        await store.close()
        await client.aclose()


async def test_a_replica_keeps_only_the_current_window_of_each_budget_it_records_alone() -> None:
    """Without a store a replica records spend per budget window; a new window drops the old ones
    (else the record grows by one key per budget per day for the pod's life)."""
    from switchboard.api.provider import ProviderModel, Timeouts
    from switchboard.proxy.adapters.base import Usage
    from switchboard.proxy.fleet.admission import FleetLimiter
    from switchboard.proxy.routing.types import Attempt
    from tests.fixtures.proxy import provider_config, proxy_config

    config = proxy_config([provider_config("p", "openai", "http://127.0.0.1:9")])
    attempt = Attempt(config.providers[0], ProviderModel(name="mock-model"), config.profiles[0], Timeouts(), None)
    limiter = FleetLimiter(None, metrics=CollectorRegistry())
    budget = Budget(period="day", limit_usd=10)
    other = budget_line("profile", "team-a/other", budget, datetime(2026, 11, 1, tzinfo=UTC))
    for day in (1, 2, 3):
        line = budget_line("profile", "team-a/chat", budget, datetime(2026, 11, day, 12, tzinfo=UTC))
        for budgets in ((line,), (line, other)) if day == 1 else ((line,),):
            reservation = await limiter.admit(Slots(mandatory=(), candidates=(), budgets=budgets), 1)
            reservation.settle(attempt, Usage(), 2.0)
            reservation.close()
    assert limiter._spent == {line.key: 2.0, other.key: 2.0}  # team-a/other's window is its own
