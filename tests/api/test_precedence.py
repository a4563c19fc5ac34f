"""The conflict rule for a model name several profiles serve (switchboard.api.precedence)."""

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from switchboard.api.precedence import claims, ordered, rank, why_shadowed
from switchboard.api.profile import ProfileConfig, ProviderRef

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def profile(namespace: str | None, name: str, created: datetime | None, *models: str) -> ProfileConfig:
    return ProfileConfig(
        name=name,
        namespace=namespace,
        creation_timestamp=created,
        models=models or ("gpt-4o",),
        providers=(ProviderRef(name="p"),),
    )


def test_the_oldest_profile_wins_whatever_its_name() -> None:
    young = profile("aaa", "aaa", T0 + timedelta(seconds=1))
    old = profile("zzz", "zzz", T0)
    assert claims([young, old])["gpt-4o"].winner is old
    assert claims([young, old])["gpt-4o"].shadowed == (young,)


def test_equal_timestamps_fall_back_to_namespace_then_name() -> None:
    b_a = profile("team-b", "a", T0)
    a_z = profile("team-a", "z", T0)
    a_b = profile("team-a", "b", T0)
    assert [p.key for p in ordered([b_a, a_z, a_b])] == ["team-a/b", "team-a/z", "team-b/a"]


def test_a_profile_without_a_timestamp_ranks_after_every_timestamped_one() -> None:
    undated = profile(None, "a", None)
    dated = profile(None, "z", T0 + timedelta(days=3650))
    assert claims([undated, dated])["gpt-4o"].winner is dated
    assert [p.name for p in ordered([profile(None, "b", None), undated])] == ["a", "b"]


def test_claims_only_count_served_models_and_each_profile_once() -> None:
    one = profile("ns", "one", T0, "gpt-4o", "gpt-4o", "mini")
    two = profile("ns", "two", T0 + timedelta(seconds=1), "gpt-4o")
    found = claims([two, one])
    assert set(found) == {"gpt-4o", "mini"}
    assert found["gpt-4o"].profiles == (one, two)
    assert found["mini"].profiles == (one,) and found["mini"].shadowed == ()


timestamps = st.one_of(st.none(), st.integers(min_value=0, max_value=5).map(lambda s: T0 + timedelta(seconds=s)))
profiles = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(["x", "y", "z"]), timestamps),
    min_size=1,
    max_size=9,
    unique_by=lambda t: (t[0], t[1]),
).map(lambda rows: [profile(ns, name, created) for ns, name, created in rows])


@given(profiles, st.randoms(use_true_random=False))
def test_the_winner_does_not_depend_on_listing_order(found: list[ProfileConfig], rng: random.Random) -> None:
    shuffled = list(found)
    rng.shuffle(shuffled)
    assert claims(found)["gpt-4o"].profiles == claims(shuffled)["gpt-4o"].profiles


@given(profiles)
def test_the_winner_is_older_than_or_as_old_as_everyone_it_shadows(found: list[ProfileConfig]) -> None:
    claim = claims(found)["gpt-4o"]
    assert len(claim.profiles) == len(found)
    winner = claim.winner
    for other in claim.shadowed:
        if winner.creation_timestamp is None:
            assert other.creation_timestamp is None
        elif other.creation_timestamp is not None:
            assert winner.creation_timestamp <= other.creation_timestamp
        if other.creation_timestamp == winner.creation_timestamp:
            assert (winner.namespace or "", winner.name) < (other.namespace or "", other.name)
    assert rank(winner) == min(rank(p) for p in found)


def test_the_reason_names_the_winner_and_what_decided() -> None:
    old, young, undated = profile("a", "x", T0), profile("b", "x", T0 + timedelta(hours=1)), profile("c", "x", None)
    assert why_shadowed(old, young) == "a/x is older (created 2026-01-01T00:00:00Z, this profile 2026-01-01T01:00:00Z)"
    assert why_shadowed(old, undated) == "a/x has a creationTimestamp and this profile has none"
    assert why_shadowed(old, profile("b", "x", T0)) == "a/x is as old and sorts first by namespace/name"
