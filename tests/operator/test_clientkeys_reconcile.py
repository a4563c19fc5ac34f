"""The client-key reconciler over the in-memory API server: delivers on change only, tells each verdict once."""

import base64
import json
from typing import Any

from switchboard.api.clientkeys import CLIENT_KEY_LABEL, PROFILES_ANNOTATION, delivery_key
from switchboard.api.egress import EgressPolicy
from switchboard.operator.clientkeys import client_key_entry, reconcile_client_keys
from switchboard.operator.events import OperatorEvents, RepeatWindow
from switchboard.operator.reconcile import Context
from switchboard.operator.render import RenderSettings
from tests.fixtures.memory_kube import MemoryKube

KEY = "sk-team-a-0123456789abcdef"


class Leader:
    is_leader = True


def labelled(ns: str, name: str, profiles: str, key: str = KEY, labelled: bool = True) -> dict[str, Any]:
    meta = {
        "name": name,
        "namespace": ns,
        "uid": f"uid-{ns}-{name}",
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "labels": {CLIENT_KEY_LABEL: "true"} if labelled else {},
        "annotations": {PROFILES_ANNOTATION: profiles},
    }
    return {"metadata": meta, "data": {"key": base64.b64encode(key.encode()).decode()}}


def secrets(*bodies: dict[str, Any]) -> list[Any]:
    return [s for body in bodies for s in client_key_entry(body).values()]


async def test_delivers_digests_on_change_and_tells_each_verdict_once() -> None:
    kube = MemoryKube({})
    ctx = Context(kube, OperatorEvents(kube, RepeatWindow()), RenderSettings(egress=EgressPolicy()), Leader())
    profiles = [("team-a", "default"), ("team-b", "default")]
    assert secrets(labelled("team-a", "plain", "default", labelled=False)) == []
    good = labelled("team-a", "ci", "default")
    greedy = labelled("team-b", "greedy", "team-a/default", key=KEY + "-b")
    for _ in range(3):  # resyncs and unrelated Secret events change nothing
        await reconcile_client_keys(ctx, secrets(good, greedy), profiles)
    assert kube.writes == 1 and set(kube.credentials) == {delivery_key("team-a")}
    document = kube.credentials[delivery_key("team-a")]
    assert KEY not in document and json.loads(document)["keys"][0]["name"] == "team-a/ci"
    assert sorted((e["type"], e["reason"]) for e in kube.events) == [
        ("Normal", "ClientKeyAccepted"),
        ("Warning", "ProfileNotInNamespace"),
    ]
    assert {e["involvedObject"]["kind"] for e in kube.events} == {"Secret"}
    # The team fixes its grant: delivered, told once more; deleting the first key removes its namespace's entry.
    fixed = labelled("team-b", "greedy", "default", key=KEY + "-b")
    await reconcile_client_keys(ctx, secrets(good, fixed), profiles)
    await reconcile_client_keys(ctx, secrets(fixed), profiles)
    assert set(kube.credentials) == {delivery_key("team-b")}
    assert [e["reason"] for e in kube.events[2:]] == ["ClientKeyAccepted"]


async def test_a_standby_replica_writes_nothing() -> None:
    kube = MemoryKube({})

    class Standby:
        is_leader = False

    ctx = Context(kube, OperatorEvents(kube, RepeatWindow()), RenderSettings(), Standby())
    await reconcile_client_keys(ctx, secrets(labelled("team-a", "ci", "default")), [])
    assert kube.credentials == {} and kube.events == []
