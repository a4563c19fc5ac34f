"""SIGTERM (what Kubernetes sends a pod) stops the operator cleanly: kopf, the Lease
elector and the process, with the Lease handed back so a standby takes over at once."""

import signal
from typing import Any

import pytest

from tests.fixtures.operator import get_json, wait_for

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(180)]


def test_sigterm_releases_the_lease_and_exits(switchboard_crds: Any, start_operator: Any, kube_namespace: str) -> None:
    cluster = switchboard_crds
    operator = start_operator(kube_namespace, "op-sigterm")
    wait_for(lambda: "took leadership" in operator.log(), 60, "the operator leads")

    operator.process.send_signal(signal.SIGTERM)
    # Generous: the bound only keeps a hang from stalling the run (it used to need SIGKILL).
    assert operator.process.wait(timeout=60) == 0, operator.log()[-3000:]
    assert "op-sigterm released" in operator.log()
    lease = get_json(cluster, "lease", "switchboard-operator", "-n", cluster.namespace)
    assert lease["spec"].get("holderIdentity") is None
