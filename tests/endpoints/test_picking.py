"""The pure endpoint picking policies and the consistent hash ring."""

import random
from collections import Counter
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.proxy.endpoints.picking import HashRing, hash64, pick, prompt_prefix


@dataclass
class Fake:
    key: str
    in_flight: int = 0
    waiting: float | None = None
    kv_cache: float | None = None


def test_least_busy_takes_the_endpoint_with_fewest_in_flight() -> None:
    members = [Fake("a", 3), Fake("b", 1), Fake("c", 2)]
    assert pick("least-busy", members, rng=random.Random(0)).key == "b"


def test_least_busy_breaks_ties_at_random_so_replicas_do_not_herd() -> None:
    members = [Fake("a"), Fake("b"), Fake("c")]
    rng = random.Random(1)
    chosen = Counter(pick("least-busy", members, rng=rng).key for _ in range(300))
    assert set(chosen) == {"a", "b", "c"}


def test_round_robin_cycles_in_order() -> None:
    members = [Fake("a"), Fake("b"), Fake("c")]
    keys = [pick("round-robin", members, rng=random.Random(0), turn=t).key for t in range(6)]
    assert keys == ["a", "b", "c", "a", "b", "c"]


def test_least_queue_prefers_fewest_waiting_then_kv_cache_then_in_flight() -> None:
    members = [Fake("a", 0, waiting=4, kv_cache=0.1), Fake("b", 9, waiting=1, kv_cache=0.9), Fake("c", 0, 1, 0.2)]
    assert pick("least-queue", members, rng=random.Random(0)).key == "c"
    members[2].kv_cache = 0.95
    assert pick("least-queue", members, rng=random.Random(0)).key == "b"


def test_prefix_affinity_keeps_a_prefix_on_one_endpoint_and_walks_on_when_it_is_unusable() -> None:
    members = [Fake("10.0.0.1:8000"), Fake("10.0.0.2:8000"), Fake("10.0.0.3:8000")]
    ring = HashRing.of([m.key for m in members])
    key = hash64("system: you are terse\nuser: hello")
    first = {pick("prefix-affinity", members, rng=random.Random(i), ring=ring, prefix_hash=key).key for i in range(20)}
    assert len(first) == 1
    owner = first.pop()
    rest = [m for m in members if m.key != owner]
    assert pick("prefix-affinity", rest, rng=random.Random(0), ring=ring, prefix_hash=key).key == ring.walk(key)[1]


endpoint_keys = st.lists(st.from_regex(r"10\.0\.[0-9]{1,2}\.[0-9]{1,2}:8000", fullmatch=True), min_size=1, max_size=8)


@settings(max_examples=40)
@given(endpoint_keys, st.from_regex(r"10\.1\.[0-9]\.[0-9]:8000", fullmatch=True), st.lists(st.integers(0, 2**64 - 1)))
def test_adding_an_endpoint_moves_only_keys_that_land_on_it(keys: list[str], new: str, hashes: list[int]) -> None:
    before, after = HashRing.of(keys), HashRing.of([*keys, new])
    for h in hashes:
        old_owner, new_owner = before.walk(h)[0], after.walk(h)[0]
        assert new_owner in (old_owner, new)


@settings(max_examples=40)
@given(endpoint_keys, st.lists(st.integers(0, 2**64 - 1), min_size=1))
def test_the_walk_visits_every_endpoint_once(keys: list[str], hashes: list[int]) -> None:
    ring = HashRing.of(keys)
    for h in hashes:
        assert sorted(ring.walk(h)) == sorted(set(keys))


def test_keys_spread_over_endpoints_and_scaling_moves_few() -> None:
    keys = [f"10.0.0.{i}:8000" for i in range(1, 4)]
    three, four = HashRing.of(keys), HashRing.of([*keys, "10.0.0.4:8000"])
    hashes = [hash64(f"prompt {i}") for i in range(3000)]
    owners = Counter(three.walk(h)[0] for h in hashes)
    assert min(owners.values()) > 500  # no endpoint starved (an even share is 1000)
    moved = sum(three.walk(h)[0] != four.walk(h)[0] for h in hashes)
    assert moved < 3000 * 0.45  # about a quarter moves to the new endpoint; a modulo hash would move three quarters


def test_prompt_prefix_reads_roles_text_parts_and_inputs() -> None:
    body = {"messages": [{"role": "system", "content": "be terse"}, {"role": "user", "content": [{"text": "hi"}]}]}
    assert prompt_prefix(body, 100) == "system\nbe terse\nuser\nhi"
    assert prompt_prefix(body, 6) == "system"
    assert prompt_prefix({"input": ["a", "b"]}, 10) == "a\nb"
