"""Fast tests of the reconcilers over an in-memory stand-in for the API server.

The real thing is covered by test_operator_e2e.py; these pin the decisions:
write only on change, keep the last good ConfigMap, report and rate-limit.
"""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from kubernetes_asyncio import client

from switchboard.api.egress import EgressPolicy
from switchboard.api.status import CONFIG_HASH_ANNOTATION
from switchboard.operator import index
from switchboard.operator.cleanup import sweep_orphans
from switchboard.operator.events import OperatorEvents, RepeatWindow
from switchboard.operator.liveness import expire_replicas
from switchboard.operator.reconcile import (
    Context,
    forget_profile,
    reconcile_profile,
    reconcile_provider,
    rivals_to_revisit,
)
from switchboard.operator.render import RenderSettings
from tests.fixtures.memory_kube import MemoryKube

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "cluster"
NS = "demo"


class Always:
    is_leader = True


def examples() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            doc["metadata"] |= {"namespace": NS, "uid": f"uid-{doc['metadata']['name']}", "generation": 1}
            docs.append(doc)
    return docs


def snapshot(docs: list[dict[str, Any]]) -> index.IndexView:
    stores: dict[str, dict[Any, list[Any]]] = {k: {} for k in ("rp", "dep", "llmp", "sec", "keys")}

    def add(store: str, entries: dict[Any, Any]) -> None:
        for key, value in entries.items():
            stores[store].setdefault(key, []).append(value)

    for doc in docs:
        if doc["kind"] == "RoutingProfile":
            add("rp", index.profile_entry(doc))
            add("dep", index.profile_dependencies(doc))
        elif doc["kind"] == "LLMProvider":
            add("llmp", index.provider_entry(doc))
            add("sec", index.provider_secret(doc))
        else:
            add("keys", index.secret_keys(doc))
    return index.IndexView(stores["rp"], stores["dep"], stores["llmp"], stores["sec"], stores["keys"])


def context(kube: MemoryKube) -> Context:
    settings = RenderSettings(egress=EgressPolicy(allow_loopback=True))  # the examples' mocks are on loopback
    return Context(kube, OperatorEvents(kube, RepeatWindow()), settings, Always())


async def test_render_apply_then_idle_then_keep_last_good_on_missing_secret() -> None:
    docs = examples()
    secret = next(d for d in docs if d["kind"] == "Secret")
    kube = MemoryKube({("upstream-keys", k): v for k, v in secret["stringData"].items()})
    ctx = context(kube)
    snap = snapshot(docs)
    for name in ("chat", "mini", "tiered"):
        await reconcile_profile(ctx, snap, NS, name)
    assert sorted(kube.config_maps) == [f"switchboard-{NS}.chat", f"switchboard-{NS}.mini", f"switchboard-{NS}.tiered"]
    assert kube.credentials == {
        f"{NS}.openai-mock": "sk-example-dummy-openai-key",
        f"{NS}.anthropic-mock": "sk-ant-example-dummy-key",
    }
    status = kube.statuses[("routingprofiles", "chat")]
    cm = kube.config_maps[f"switchboard-{NS}.chat"]
    assert status["configHash"] == cm["metadata"]["annotations"][CONFIG_HASH_ANNOTATION]
    assert [c["status"] for c in status["conditions"]] == ["True", "True", "True", "True"]

    writes = kube.writes
    await reconcile_profile(ctx, snap, NS, "chat", force=True)
    assert kube.writes == writes  # same hash: nothing written

    without_secret = snapshot([d for d in docs if d["kind"] != "Secret"])
    await reconcile_profile(ctx, without_secret, NS, "chat")
    await reconcile_profile(ctx, without_secret, NS, "chat", force=True)
    assert kube.config_maps[f"switchboard-{NS}.chat"] is cm  # last good kept
    status = kube.statuses[("routingprofiles", "chat")]
    ready, refs, _, _ = status["conditions"]
    assert (ready["status"], refs["reason"]) == ("False", "SecretNotFound")
    assert "configHash" not in status  # the previous hash stays as it was
    warnings = [e for e in kube.events if e["reason"] == "SecretNotFound"]
    assert len(warnings) == 1  # rate-limited
    await reconcile_provider(ctx, without_secret, NS, "openai-mock")
    provider_status = kube.statuses[("llmproviders", "openai-mock")]
    assert provider_status["conditions"][0]["reason"] == "SecretNotFound"
    text = repr(kube.events) + repr(kube.statuses) + repr(kube.config_maps)
    assert "sk-example-dummy-openai-key" not in text and "sk-ant-example-dummy-key" not in text


async def test_deleted_provider_leaves_no_credential() -> None:
    docs = examples()
    kube = MemoryKube({("upstream-keys", "openai"): "k1", ("upstream-keys", "anthropic"): "k2"})
    ctx = context(kube)
    await reconcile_profile(ctx, snapshot(docs), NS, "chat")
    assert f"{NS}.openai-mock" in kube.credentials
    gone = snapshot([d for d in docs if d["metadata"]["name"] != "openai-mock"])
    await reconcile_provider(ctx, gone, NS, "openai-mock")
    assert f"{NS}.openai-mock" not in kube.credentials and f"{NS}.anthropic-mock" in kube.credentials


async def test_standby_does_nothing() -> None:
    kube = MemoryKube({})
    ctx = context(kube)
    ctx.leadership = type("Standby", (), {"is_leader": False})()
    await reconcile_profile(ctx, snapshot(examples()), NS, "chat", force=True)
    assert kube.writes == 0 and not kube.statuses and not kube.events


async def test_a_deleted_profile_takes_its_config_map_and_a_sweep_removes_only_true_orphans() -> None:
    docs = examples()
    secret = next(d for d in docs if d["kind"] == "Secret")
    kube = MemoryKube({("upstream-keys", k): v for k, v in secret["stringData"].items()})
    ctx = context(kube)
    for name in ("chat", "mini", "tiered"):
        await reconcile_profile(ctx, snapshot(docs), NS, name)
    await forget_profile(ctx, NS, "chat")
    assert f"switchboard-{NS}.chat" not in kube.config_maps

    # "mini" vanished from the cache, but the API server still has it: kept. "tiered" is really gone.
    kube.live_profiles = {(NS, "mini")}
    cold = snapshot([d for d in docs if d["metadata"]["name"] not in ("mini", "tiered")])
    assert await sweep_orphans(kube, cold, ()) == 1
    assert sorted(kube.config_maps) == [f"switchboard-{NS}.mini"]
    # A namespace-scoped operator never touches other namespaces' config.
    assert await sweep_orphans(kube, snapshot([]), ("elsewhere",)) == 0
    assert sorted(kube.config_maps) == [f"switchboard-{NS}.mini"]


async def test_replicas_of_a_fleet_that_is_gone_are_expired() -> None:
    stale = {"replica": "proxy-gone", "updatedAt": "2026-01-01T00:00:00Z", "circuit": "open", "errorRate": 1.0}
    docs = examples()
    for doc in docs:
        if doc["metadata"]["name"] == "openai-mock":
            doc["status"] = {"summary": {"circuit": "open"}, "replicas": [stale]}
        if doc["metadata"]["name"] == "chat":
            doc["status"] = {"configHash": "h", "inSyncReplicas": 1, "replicas": [{**stale, "configHash": "h"}]}
    kube = MemoryKube({})
    kube.statuses[("llmproviders", "openai-mock")] = next(
        d["status"] for d in docs if d["metadata"]["name"] == "openai-mock"
    )
    kube.statuses[("routingprofiles", "chat")] = {
        "configHash": "h",
        "inSyncReplicas": 1,
        "replicas": [{"replica": "proxy-gone", "configHash": "h", "updatedAt": "2026-01-01T00:00:00Z"}],
    }
    expired = await expire_replicas(kube, snapshot(docs), timedelta(seconds=60))
    assert expired == 2
    assert kube.statuses[("llmproviders", "openai-mock")] == {"replicas": [], "summary": None}
    assert kube.statuses[("routingprofiles", "chat")]["inSyncReplicas"] == 0
    # The cache is behind: a proxy came back and wrote meanwhile. The fresh read decides: it stays.
    back = {"replicas": [{**stale, "updatedAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}]}
    kube.statuses[("llmproviders", "openai-mock")] = back
    assert await expire_replicas(kube, snapshot(docs), timedelta(seconds=60)) == 0
    assert kube.statuses[("llmproviders", "openai-mock")] is back


class ConflictingKube(MemoryKube):
    """Answers 409 to the first ``conflicts`` ConfigMap writes, as when another writer got in first."""

    def __init__(self, secrets: dict[tuple[str, str], str], conflicts: int) -> None:
        super().__init__(secrets)
        self.conflicts = conflicts

    async def apply_config_map(self, manifest: dict[str, Any]) -> bool:
        if self.conflicts > 0:
            self.conflicts -= 1
            raise client.ApiException(status=409, reason="Conflict")
        return await super().apply_config_map(manifest)


def _secrets(docs: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    secret = next(d for d in docs if d["kind"] == "Secret")
    return {("upstream-keys", k): v for k, v in secret["stringData"].items()}


async def test_a_benign_write_conflict_is_retried_quietly() -> None:
    docs = examples()
    kube = ConflictingKube(_secrets(docs), conflicts=2)
    await reconcile_profile(context(kube), snapshot(docs), NS, "chat")
    assert f"switchboard-{NS}.chat" in kube.config_maps
    assert not [e for e in kube.events if e["type"] == "Warning"]
    assert [c["status"] for c in kube.statuses[("routingprofiles", "chat")]["conditions"]] == ["True"] * 4


async def test_conflicts_that_persist_are_reported() -> None:
    docs = examples()
    kube = ConflictingKube(_secrets(docs), conflicts=10)
    await reconcile_profile(context(kube), snapshot(docs), NS, "chat")
    assert f"switchboard-{NS}.chat" not in kube.config_maps
    assert [e["reason"] for e in kube.events if e["type"] == "Warning"] == ["ApplyFailed"]


async def test_a_render_racing_a_provider_deletion_does_not_put_its_key_back() -> None:
    docs = examples()
    kube = MemoryKube(_secrets(docs))
    ctx, snap = context(kube), snapshot(docs)
    await reconcile_profile(ctx, snap, NS, "mini")
    key = f"{NS}.anthropic-mock"
    assert key in kube.credentials
    provider_lock = ctx.locks[("llmp", NS, "anthropic-mock")]
    async with provider_lock:  # the deletion handler holds the provider while the render runs up to its write
        render = asyncio.create_task(reconcile_profile(ctx, snap, NS, "mini", force=True))
        await asyncio.sleep(0.01)
        assert not render.done()  # waiting for the provider's lock, its render already made
        entries = snap.providers[NS]
        entries[:] = [p for p in entries if p["metadata"]["name"] != "anthropic-mock"]  # the live index forgets it
        kube.credentials.pop(key)  # what the deletion's reconcile_provider does under the lock
    await render
    assert key not in kube.credentials
    assert f"{NS}.openai-mock" in kube.credentials


def test_rivals_are_revisited_when_a_claim_changes_and_on_deletion() -> None:
    def rp(name: str, minute: int, models: list[str], serving: bool = True) -> dict[str, Any]:
        meta = {"name": name, "namespace": NS, "creationTimestamp": f"2026-03-01T12:{minute:02d}:00Z"}
        return {"metadata": meta, "spec": {"models": models}, "status": {"configHash": "h"} if serving else {}}

    old, mid, new = rp("old", 0, ["m"]), rp("mid", 1, ["m"]), rp("new", 2, ["m"], serving=False)
    claims: dict[Any, list[Any]] = {}
    for body in (old, mid, new):
        for model, claim in index.profile_claims(body).items():
            claims.setdefault(model, []).append(claim)
    snap = index.IndexView({}, {}, {}, {}, {}, claims=claims)
    ctx = context(MemoryKube({}))

    def revisit(body: dict[str, Any], gone: bool = False) -> list[str]:
        return [c.name for c in rivals_to_revisit(ctx, snap, body, gone=gone)]

    assert [revisit(b) for b in (old, mid, new)] == [[], [], []]  # first sight (the operator's start)
    assert revisit(old) == []  # a status write of the proxies: the claim is the same
    served = {**new, "status": {"configHash": "h"}}
    claims["m"][2] = index.profile_claims(served)["m"]
    assert revisit(served) == ["old"]  # its first ConfigMap: only the winner's shadows change
    claims["m"] = claims["m"][1:]
    assert revisit(old, gone=True) == ["mid", "new"]  # the winner goes: everyone names the next
