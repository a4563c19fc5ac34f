"""Control-plane outages: the proxies keep serving the last good config, then catch up.

A module of its own: it stops the operators and the API server of the session
cluster, so it gets its own system and leaves everything running again.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import pytest

from hack.cluster import KubeCluster
from hack.system import RunningSystem
from tests.fixtures.operator import wait_for
from tests.fixtures.system import MESSAGES, sdk, strategy_of

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(240)]


def set_strategy(cluster: KubeCluster, namespace: str, strategy: str) -> None:
    patch = json.dumps({"spec": {"strategy": strategy}})
    cluster.kubectl("patch", "rp", "chat", "-n", namespace, "--type=merge", "-p", patch)


def serves_strategy(system: RunningSystem, strategy: str) -> bool:
    return all(strategy_of(url, "gpt-4o") == strategy for url in system.proxy_urls)


def every_replica_answers(system: RunningSystem, rounds: int = 3) -> None:
    for _ in range(rounds):
        for url in system.proxy_urls:
            reply: Any = sdk(url).chat.completions.create(model="gpt-4o", messages=MESSAGES)
            assert reply.choices[0].message.content


def test_operator_then_api_server_restart(e2e_system: RunningSystem) -> None:
    cluster, ns = e2e_system.cluster, e2e_system.options.namespace
    operators = [name for name in e2e_system.processes if name.startswith("operator")]

    for name in operators:  # the whole operator fleet is down
        e2e_system.stop_process(name)
    every_replica_answers(e2e_system)
    set_strategy(cluster, ns, "round-robin")  # accepted by the API server, rendered by nobody yet
    every_replica_answers(e2e_system)
    assert serves_strategy(e2e_system, "failover")
    for name in operators:
        e2e_system.start(name)
    wait_for(partial(serves_strategy, e2e_system, "round-robin"), 60, "change made while the operator was down")

    cluster.stop_apiserver()
    try:
        every_replica_answers(e2e_system)  # the last good config keeps serving
        assert serves_strategy(e2e_system, "round-robin")
    finally:
        cluster.start_apiserver()
    every_replica_answers(e2e_system)
    set_strategy(cluster, ns, "random")
    wait_for(partial(serves_strategy, e2e_system, "random"), 60, "change made after the API server came back")
    set_strategy(cluster, ns, "failover")
    wait_for(partial(serves_strategy, e2e_system, "failover"), 60, "back to the example's strategy")
