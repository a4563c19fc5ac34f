"""The operator's conflict verdicts agree with the proxies' routing (the same rule), for any set of profiles."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.api.precedence import claims
from switchboard.api.profile import ProfileConfig, ProviderRef
from switchboard.operator import index
from switchboard.operator.conflicts import CONFLICT_REASON, Claimant, accepted, claimant, conflicts, to_revisit

BASE = datetime(2026, 3, 1, tzinfo=UTC)
MODELS = ("gpt-4o", "gpt-4o-mini", "claude")

claimant_sets = st.lists(
    st.builds(
        Claimant,
        namespace=st.sampled_from(("team-a", "team-b", "team-c")),
        name=st.sampled_from(("chat", "fast", "backup")),
        creation_timestamp=st.one_of(st.none(), st.integers(0, 3).map(lambda d: BASE + timedelta(days=d))),
        models=st.lists(st.sampled_from(MODELS), min_size=1, max_size=3, unique=True).map(tuple),
        serving=st.booleans(),
    ),
    max_size=8,
    unique_by=lambda c: c.key,
)


def as_config(c: Claimant) -> ProfileConfig:
    """What the proxies load for a served profile."""
    refs = (ProviderRef(name="p"),)
    return ProfileConfig(
        name=c.name, namespace=c.namespace, creation_timestamp=c.creation_timestamp, models=c.models, providers=refs
    )


@settings(max_examples=200, deadline=None)
@given(claimant_sets)
def test_every_verdict_agrees_with_the_proxies_winner(profiles: list[Claimant]) -> None:
    served = [c for c in profiles if c.serving]
    winners = {model: claim.winner.key for model, claim in claims(as_config(c) for c in served).items()}
    for me in profiles:
        found = conflicts(me, profiles, serving=me.serving)
        lost = dict((model, w.key) for model, w in found.lost)
        for model in me.models:
            if me.serving:  # the proxies' winner is me, or the one my verdict names
                assert lost.get(model, me.key) == winners[model]
            elif model in lost:  # not served yet: I would lose to the winner among the served
                assert lost[model] == winners[model]
        shadowed = {(model, other.key) for model, other in found.shadows}
        expected = {(m, c.key) for c in served for m in c.models if me.serving and winners.get(m) == me.key} - {
            (m, me.key) for m in me.models
        }
        assert shadowed == expected
        verdict, events = accepted(me, found)
        assert (verdict.status == "False") == bool(found.lost) == bool(events)


def test_the_loser_names_winner_model_and_how_it_can_still_be_reached() -> None:
    old = Claimant("team-a", "chat", BASE, ("gpt-4o",), serving=True)
    new = Claimant("team-b", "chat", BASE + timedelta(hours=1), ("gpt-4o", "claude"), serving=True)
    verdict, events = accepted(new, conflicts(new, [old, new], serving=True))
    assert (verdict.type, verdict.status, verdict.reason) == ("Accepted", "False", CONFLICT_REASON)
    assert "model gpt-4o is served by team-a/chat" in verdict.message and "still serves claude" in verdict.message
    assert "x-routing-profile" in verdict.message and "client auth" in verdict.message
    assert [(e.type, e.reason, e.message) for e in events] == [("Warning", CONFLICT_REASON, verdict.message)]
    winner = conflicts(old, [old, new], serving=True)
    assert winner.status() == [{"model": "gpt-4o", "profile": "team-b/chat"}]
    assert "takes precedence over team-b/chat" in accepted(old, winner)[0].message


def test_the_claims_index_covers_every_namespace_and_only_model_names() -> None:
    body = {
        "metadata": {"name": "chat", "namespace": "ns", "creationTimestamp": "2026-03-01T12:00:00Z"},
        "spec": {"models": ["m", 7, "m", "n"]},
        "status": {"configHash": "abc"},
    }
    claims_index = index.profile_claims(body)
    assert sorted(claims_index) == ["m", "n"]
    assert claims_index["m"] == Claimant("ns", "chat", BASE + timedelta(hours=12), ("m", "n"), serving=True)
    assert claimant({"metadata": {"name": "x", "namespace": "ns", "creationTimestamp": "nonsense"}}) == Claimant(
        "ns", "x", None, (), serving=False
    )
    snap = index.IndexView({}, {}, {}, {}, {}, claims={"m": [claims_index["m"]], "n": [claims_index["n"]]})
    assert [c.key for c in snap.claimants(["m", "n", "other"])] == ["ns/chat"]


@settings(max_examples=300, deadline=None)
@given(claimant_sets, st.data())
def test_a_claim_change_revisits_every_profile_whose_verdicts_change(
    profiles: list[Claimant], data: st.DataObject
) -> None:
    if not profiles:
        return
    before = data.draw(st.sampled_from(profiles))
    after = data.draw(
        st.one_of(
            st.none(),  # deleted
            st.builds(
                Claimant,
                namespace=st.just(before.namespace),
                name=st.just(before.name),
                creation_timestamp=st.just(before.creation_timestamp),
                models=st.lists(st.sampled_from(MODELS), min_size=1, max_size=3, unique=True).map(tuple),
                serving=st.booleans(),
            ),
        )
    )
    now = [c for c in profiles if c.key != before.key] + ([after] if after else [])
    revisited = {c.key for c in to_revisit(before, after, now)}
    for other in now:
        if other.key == before.key:
            continue
        was = accepted(other, conflicts(other, profiles, serving=other.serving))
        found = conflicts(other, now, serving=other.serving)
        if (
            was != accepted(other, found)
            or conflicts(other, profiles, serving=other.serving).status() != found.status()
        ):
            assert other.key in revisited, (other.key, before, after)
