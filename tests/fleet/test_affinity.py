"""Affinity that holds across replicas with no shared state: rendezvous hashing, and prompt-prefix sessions."""

import random
from collections import Counter

import aiohttp

from switchboard.api.profile import SessionAffinity
from switchboard.proxy.http.routing_input import route_request
from switchboard.proxy.routing import Outcome, Router, RouteRequest
from tests.fixtures.engine import make_config, provider
from tests.fixtures.proxy import ProxyServer, provider_config, proxy_config
from tests.fixtures.upstream import MockControl

AFFINITY = {"enabled": True, "maxSessions": 1000, "ttlSeconds": 600, "promptPrefix": True}


def replicas(n: int, strategy: str = "round-robin") -> list[Router]:
    ups = [provider(name, weight=1) for name in "abcd"]
    return [
        Router(make_config(ups, strategy=strategy, sessionAffinity=AFFINITY), rng=random.Random(i)) for i in range(n)
    ]


def first(router: Router, request: RouteRequest) -> str:
    return router.plan(request).attempts[0].provider.name


def test_replicas_that_never_talk_choose_the_same_provider_for_each_session() -> None:
    fleet = replicas(3)
    sessions = [RouteRequest(model="gpt-4o", headers={"x-session-id": f"s{i}"}) for i in range(200)]
    for request in sessions:
        assert len({first(r, request) for r in fleet}) == 1
    spread = Counter(first(fleet[0], r) for r in sessions)
    assert set(spread) == set("abcd") and min(spread.values()) > 20  # still spread over every provider


def test_a_session_leaves_its_provider_only_when_it_cannot_serve_and_others_keep_theirs() -> None:
    fleet = replicas(2)
    sessions = [RouteRequest(model="gpt-4o", user=f"u{i}") for i in range(100)]
    before = {r.user: first(fleet[0], r) for r in sessions}
    victim = fleet[0].plan(sessions[0]).attempts[0]
    for _ in range(10):  # open its circuit on replica 1 only
        fleet[1].started(victim)
        fleet[1].finished(victim, Outcome(kind="server_error", latency_s=0.01, status=500))
    after = {r.user: first(fleet[1], r) for r in sessions}
    moved = {u for u in before if before[u] != after[u]}
    assert moved == {u for u, p in before.items() if p == victim.provider.name}


def test_prompt_prefix_affinity_keys_sessions_by_the_system_prompt_and_first_turn() -> None:
    system = {"role": "system", "content": "You are an agent with a very long shared tool manual."}
    fleet = replicas(3)
    chosen = set()
    for turn in range(20):
        body = {
            "model": "gpt-4o",
            "messages": [system, {"role": "user", "content": "task 7"}, {"role": "user", "content": f"step {turn}"}],
        }
        request = route_request(body, {}, "chat")
        chosen |= {first(r, request) for r in fleet}
    assert len(chosen) == 1
    other = route_request({"model": "gpt-4o", "messages": [system, {"role": "user", "content": "x"}]}, {}, "chat")
    assert other.prefix_hash() != request.prefix_hash()


async def test_sessions_stick_across_real_proxy_processes_without_a_store(
    proxy_process, mock_upstream: MockControl
) -> None:
    providers = [provider_config(name, "openai", mock_upstream.base_url) for name in ("p1", "p2", "p3")]
    config = proxy_config(providers, strategy="round-robin", session_affinity=SessionAffinity(enabled=True))
    fleet: list[ProxyServer] = [await proxy_process(config) for _ in range(2)]
    served: dict[str, set[str]] = {}
    async with aiohttp.ClientSession() as http:
        for i in range(24):
            sid = f"session-{i % 6}"
            body = {"model": "mock-model", "messages": [{"role": "user", "content": "hi"}]}
            url = fleet[i % 2].openai_base_url + "/chat/completions"
            async with http.post(url, json=body, headers={"x-session-id": sid}) as r:
                assert r.status == 200
                served.setdefault(sid, set()).add(r.headers["x-switchboard-provider"])
    assert all(len(p) == 1 for p in served.values()), served
