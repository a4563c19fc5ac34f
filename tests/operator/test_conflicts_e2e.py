"""Profiles that claim the same model, on a real kube-apiserver: the losers say so (Accepted=False,
ModelConflict, a Warning Event), the winner lists what it shadows, ``kubectl get rp`` shows it,
and deleting the winner (or its giving the model up) promotes the next one, in one namespace and
across namespaces.

The operator runs with a long resync period, so what the test sees comes from its watches."""

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures.cluster import tenant_namespace
from tests.fixtures.operator import condition, get_json, wait_for

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(240)]

MODEL, OTHER_MODEL = "gpt-4o", "gpt-4o-mini"


def provider(namespace: str) -> dict[str, Any]:
    spec = {
        "type": "openai-compatible",
        "baseUrl": "http://127.0.0.1:18001/v1",
        "models": [{"name": MODEL}, {"name": OTHER_MODEL}],
    }
    return {
        "apiVersion": "switchboard.dev/v1alpha1",
        "kind": "LLMProvider",
        "metadata": {"name": "upstream", "namespace": namespace},
        "spec": spec,
    }


def profile(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "switchboard.dev/v1alpha1",
        "kind": "RoutingProfile",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"models": [MODEL], "providers": [{"name": "upstream"}]},
    }


def apply(cluster: Any, *objects: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))


def accepted(cluster: Any, namespace: str, name: str) -> tuple[str, str, str] | None:
    found = condition(get_json(cluster, "rp", name, "-n", namespace), "Accepted")
    return (found["status"], found["reason"], found["message"]) if found else None


def shadows(cluster: Any, namespace: str, name: str) -> list[dict[str, str]] | None:
    rp = get_json(cluster, "rp", name, "-n", namespace) or {}
    return rp.get("status", {}).get("shadows")


def conflict_events(cluster: Any, namespace: str, name: str) -> list[dict[str, Any]]:
    items = get_json(cluster, "events", "-n", namespace)["items"]
    return [e for e in items if e["involvedObject"]["name"] == name and e["reason"] == "ModelConflict"]


@pytest.fixture
def second_namespace(switchboard_crds: Any, kube_namespace: str) -> Iterator[str]:
    """Sorts after the first, so namespace/name order agrees with creation order on equal timestamps."""
    with tenant_namespace(switchboard_crds, f"{kube_namespace}-b") as name:
        yield name


def test_conflicts_in_one_namespace_and_across_namespaces_and_promotion(
    switchboard_crds: Any, start_operator: Any, kube_namespace: str, second_namespace: str
) -> None:
    cluster, ns, other = switchboard_crds, kube_namespace, second_namespace
    start_operator(ns, "op-1", "--namespace", other, "--resync-seconds", "600")
    apply(cluster, provider(ns), provider(other), profile(ns, "alpha"))
    wait_for(lambda: accepted(cluster, ns, "alpha") == ("True", "Accepted", f"serves model(s) {MODEL}"), 60, "alpha")
    apply(cluster, profile(ns, "beta"))
    wait_for(lambda: (accepted(cluster, ns, "beta") or ("",))[0] == "False", 60, "beta loses to alpha")
    apply(cluster, profile(other, "gamma"))
    wait_for(lambda: (accepted(cluster, other, "gamma") or ("",))[0] == "False", 60, "gamma loses to alpha")

    expected = [{"model": MODEL, "profile": f"{ns}/beta"}, {"model": MODEL, "profile": f"{other}/gamma"}]
    wait_for(lambda: shadows(cluster, ns, "alpha") == expected, 60, "alpha lists both in status.shadows")
    assert accepted(cluster, ns, "alpha")[:2] == ("True", "Accepted")  # type: ignore[index]
    for namespace, name in ((ns, "beta"), (other, "gamma")):
        status, reason, message = accepted(cluster, namespace, name)  # type: ignore[misc]
        assert (status, reason) == ("False", "ModelConflict")
        assert message.startswith(f"model {MODEL} is served by {ns}/alpha: ")
        assert "x-routing-profile" in message and "client auth" in message
        assert shadows(cluster, namespace, name) == []
        ready = condition(get_json(cluster, "rp", name, "-n", namespace), "Ready")
        assert ready is not None and ready["status"] == "True"  # rendered all the same: still reachable by name
        events = wait_for(lambda n=namespace, p=name: conflict_events(cluster, n, p), 30, f"{name}'s Warning Event")
        assert events[0]["type"] == "Warning" and events[0]["message"] == message

    table = [line.split() for line in cluster.kubectl("get", "rp", "-n", ns).stdout.splitlines()]
    column = table[0].index("ACCEPTED")
    assert {row[0]: row[column] for row in table[1:]} == {"alpha": "True", "beta": "False"}

    cluster.kubectl("delete", "rp", "alpha", "-n", ns)
    wait_for(lambda: (accepted(cluster, ns, "beta") or ("",))[0] == "True", 60, "beta promoted")
    wait_for(
        lambda: shadows(cluster, ns, "beta") == [{"model": MODEL, "profile": f"{other}/gamma"}], 30, "beta shadows"
    )
    wait_for(
        lambda: (accepted(cluster, other, "gamma") or ("", "", ""))[2].startswith(
            f"model {MODEL} is served by {ns}/beta"
        ),
        30,
        "gamma names the new winner",
    )
    assert accepted(cluster, other, "gamma")[:2] == ("False", "ModelConflict")  # type: ignore[index]

    # The new winner gives the model up: the last claimant is promoted and nobody is shadowed.
    cluster.kubectl(
        "patch", "rp", "beta", "-n", ns, "--type=merge", "-p", json.dumps({"spec": {"models": [OTHER_MODEL]}})
    )
    wait_for(lambda: (accepted(cluster, other, "gamma") or ("",))[0] == "True", 60, "gamma promoted")
    wait_for(lambda: shadows(cluster, ns, "beta") == [], 30, "beta shadows nothing")
    assert accepted(cluster, ns, "beta") == ("True", "Accepted", f"serves model(s) {OTHER_MODEL}")
