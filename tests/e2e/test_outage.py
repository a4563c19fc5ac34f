"""Control-plane outages: the proxies keep serving the last good config, then catch up.

A module of its own: it stops the operators and the API server, so it gets its
own system and leaves everything running again. On kind the operator fleet is
scaled to zero and back; the API server test is local-only.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import pytest

from hack.cluster import KubeCluster
from tests.fixtures.operator import wait_for
from tests.fixtures.system import MESSAGES, E2ESystem, Kubectl, sdk, skip_on_kind, strategy_of

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(300)]


def set_strategy(cluster: Kubectl, namespace: str, strategy: str) -> None:
    patch = json.dumps({"spec": {"strategy": strategy}})
    cluster.kubectl("patch", "rp", "chat", "-n", namespace, "--type=merge", "-p", patch)


def serves_strategy(system: E2ESystem, strategy: str) -> bool:
    return all(strategy_of(url, "gpt-4o") == strategy for url in system.proxy_urls)


def every_replica_answers(system: E2ESystem, rounds: int = 3) -> None:
    for _ in range(rounds):
        for url in system.proxy_urls:
            reply: Any = sdk(url).chat.completions.create(model="gpt-4o", messages=MESSAGES)
            assert reply.choices[0].message.content


def test_operator_fleet_down_then_back(e2e_system: E2ESystem) -> None:
    cluster, ns = e2e_system.cluster, e2e_system.namespace
    e2e_system.stop_operators()  # the whole operator fleet is down
    try:
        every_replica_answers(e2e_system)
        set_strategy(cluster, ns, "round-robin")  # accepted by the API server, rendered by nobody yet
        every_replica_answers(e2e_system)
        assert serves_strategy(e2e_system, "failover")
    finally:
        e2e_system.start_operators()
    wait_for(partial(serves_strategy, e2e_system, "round-robin"), 60, "change made while the operator was down")
    set_strategy(cluster, ns, "failover")
    wait_for(partial(serves_strategy, e2e_system, "failover"), 60, "back to the example's strategy")


@skip_on_kind("the test stops the API server of the local control plane it runs (kind: a static pod in a container)")
def test_api_server_down_then_back(e2e_system: E2ESystem) -> None:
    cluster, ns = e2e_system.cluster, e2e_system.namespace
    assert isinstance(cluster, KubeCluster)  # the local control plane, which can stop its API server
    wait_for(partial(serves_strategy, e2e_system, "failover"), 60, "the example's strategy")
    cluster.stop_apiserver()
    try:
        every_replica_answers(e2e_system)  # the last good config keeps serving
        assert serves_strategy(e2e_system, "failover")
    finally:
        cluster.start_apiserver()
    every_replica_answers(e2e_system)
    set_strategy(cluster, ns, "random")
    wait_for(partial(serves_strategy, e2e_system, "random"), 60, "change made after the API server came back")
    set_strategy(cluster, ns, "failover")
    wait_for(partial(serves_strategy, e2e_system, "failover"), 60, "back to the example's strategy")
