"""Fast unit tests of the operator's pure parts: selectors, conditions, event
rate limiting, Lease decisions and the dependency indices."""

import itertools
import logging
from typing import Any

import pytest

from switchboard.api.egress import EgressPolicy
from switchboard.api.profile import LabelSelector
from switchboard.operator import index
from switchboard.operator.conditions import merge, provider_verdicts
from switchboard.operator.events import RepeatWindow
from switchboard.operator.ha import Observation, may_acquire
from switchboard.operator.logs import CappedBackoff, RoutineKopfLines
from switchboard.operator.names import config_map_name, label_value
from switchboard.operator.render import Rendered, RenderInputs, SecretFacts, render
from switchboard.operator.selectors import matches
from switchboard.operator.verdicts import Verdict


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ({}, {}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"}, True),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]}, {}, False),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {"a": "1"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": ""}, False),
    ],
)
def test_label_selector(selector: dict[str, Any], labels: dict[str, str], expected: bool) -> None:
    assert matches(LabelSelector.model_validate(selector), labels) is expected


def test_condition_transition_time_moves_only_on_status_change() -> None:
    first = merge([], [Verdict("Ready", "False", "SecretNotFound", "x")], 1, "T1")
    same = merge(first, [Verdict("Ready", "False", "SecretKeyNotFound", "y")], 2, "T2")
    assert same[0]["lastTransitionTime"] == "T1" and same[0]["reason"] == "SecretKeyNotFound"
    assert same[0]["observedGeneration"] == 2
    flipped = merge(same, [Verdict("Ready", "True", "Ready")], 2, "T3")
    assert flipped[0]["lastTransitionTime"] == "T3"


def test_provider_verdicts() -> None:
    body = {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"type": "openai", "apiKeySecretRef": {"name": "s", "key": "k"}, "models": [{"name": "m"}]},
    }
    ready, refs, rendered = provider_verdicts(body, {}, ["chat"])
    assert (ready.status, ready.reason, refs.reason) == ("False", "SecretNotFound", "SecretNotFound")
    assert rendered.status == "True" and "chat" in rendered.message
    ready, refs, _ = provider_verdicts(body, {"s": SecretFacts(frozenset({"k"}))}, [])  # no opt-in
    assert (ready.status, refs.status, refs.reason) == ("False", "False", "SecretNotAllowed")
    assert "switchboard.dev/allowed-providers: p" in refs.message and "'k'" not in refs.message
    ready, _, _ = provider_verdicts(body, {"s": SecretFacts(frozenset({"k"}), frozenset({"other"}))}, [])
    assert ready.reason == "SecretNotAllowed"
    for granted in ({"p"}, {"*"}, {"other", "p"}):
        ready, _, _ = provider_verdicts(body, {"s": SecretFacts(frozenset({"k"}), frozenset(granted))}, [])
        assert ready.status == "True", granted
    ready, _, _ = provider_verdicts(body, {"s": SecretFacts(frozenset({"x"}), frozenset({"p"}))}, [])
    assert ready.reason == "SecretKeyNotFound"
    metadata = {
        **body,
        "spec": {"type": "openai-compatible", "baseUrl": "http://169.254.169.254/v1", "models": [{"name": "m"}]},
    }
    ready, refs, _ = provider_verdicts(metadata, {}, [])
    assert (ready.status, ready.reason, refs.status) == ("False", "EgressDenied", "True")
    assert "link-local" in ready.message
    allowed = EgressPolicy(allow_link_local=True)
    assert provider_verdicts(metadata, {}, [], allowed)[0].status == "True"
    ready, _, rendered = provider_verdicts(
        {**body, "spec": {"type": "azure-openai", "models": [{"name": "m"}]}}, {}, []
    )
    assert ready.reason == "InvalidSpec" and "baseUrl is required" in rendered.message


def test_event_limiter_per_object_reason_and_message() -> None:
    now = [0.0]
    limiter = RepeatWindow(window_seconds=60, clock=lambda: now[0])
    assert limiter.allow("uid", "SecretNotFound", "m")
    assert not limiter.allow("uid", "SecretNotFound", "m")
    assert limiter.allow("uid", "Rendered", "m")
    assert limiter.allow("other", "SecretNotFound", "m")
    assert limiter.allow("uid", "SecretNotFound", "another message")
    now[0] = 61
    assert limiter.allow("uid", "SecretNotFound", "m")


def test_lease_decision() -> None:
    obs = Observation()
    assert may_acquire(obs, "me", 15, now=0)
    obs.update(("other", "t1", 0), now=10)
    assert not may_acquire(obs, "me", 15, now=20)
    obs.update(("other", "t1", 0), now=24)  # unchanged record: the clock keeps running
    assert may_acquire(obs, "me", 15, now=26)
    obs.update(("other", "t2", 0), now=26)  # renewed
    assert not may_acquire(obs, "me", 15, now=30)
    obs.update((None, "t2", 0), now=31)  # released
    assert may_acquire(obs, "me", 15, now=31)
    obs.update(("me", "t3", 1), now=32)
    assert may_acquire(obs, "me", 15, now=33)


def test_dependency_indices() -> None:
    profile = {
        "metadata": {"name": "chat", "namespace": "ns"},
        "spec": {"models": ["m"], "providers": [{"name": "a"}, {"name": "b"}], "providerSelector": {}},
    }
    assert index.profile_dependencies(profile) == {("ns", "a"): "chat", ("ns", "b"): "chat", ("ns", "*"): "chat"}
    provider = {"metadata": {"name": "a", "namespace": "ns"}, "spec": {"apiKeySecretRef": {"name": "s", "key": "k"}}}
    assert index.provider_secret(provider) == {("ns", "s"): "a"}
    secret = {"metadata": {"name": "s", "namespace": "ns"}, "data": {"k": "c2VjcmV0"}}
    assert index.secret_keys(secret) == {"ns": ("s", SecretFacts(frozenset({"k"})))}
    granting = {"metadata": {**secret["metadata"], "annotations": {"switchboard.dev/allowed-providers": " a, b ,"}}}
    assert index.secret_keys(granting) == {"ns": ("s", SecretFacts(frozenset(), frozenset({"a", "b"})))}
    snap = index.IndexView(
        profiles={("ns", "chat"): [index.profile_entry(profile)[("ns", "chat")]]},
        dependencies={("ns", "a"): ["chat"], ("ns", "*"): ["sel"]},
        providers={"ns": [index.provider_entry(provider)["ns"]]},
        provider_secrets={("ns", "s"): ["a"]},
        secrets={"ns": [("s", SecretFacts(frozenset({"k"})))]},
    )
    assert snap.profiles_using("ns", "a") == ["chat", "sel"]
    assert snap.providers_using_secret("ns", "s") == ["a"]
    assert snap.secrets_in("ns") == {"s": SecretFacts(frozenset({"k"}))}
    assert snap.profile("ns", "chat") is not None and snap.provider("ns", "a") is not None


def test_names_stay_valid() -> None:
    assert config_map_name("team-a", "chat") == "switchboard-team-a.chat"
    assert config_map_name("a-b", "c") != config_map_name("a", "b-c")
    long = "x" * 253
    assert len(config_map_name("ns", long)) == 253 and config_map_name("ns", long) != config_map_name("ns", "x" * 252)
    assert len(label_value(long)) == 63 and label_value(long)[-1].isalnum()


def test_status_writes_do_not_count_as_changes() -> None:
    memory = index.SpecMemory()
    body: dict[str, Any] = {"metadata": {"uid": "u1", "generation": 1, "labels": {"pool": "a"}}, "status": {}}
    assert memory.changed(("llmp", "ns", "p"), body)
    for _ in range(3):  # proxies writing status: same generation, same labels
        body = {**body, "status": {"replicas": [{"replica": "x"}]}}
        assert not memory.changed(("llmp", "ns", "p"), body)
    relabelled = {**body, "metadata": {**body["metadata"], "labels": {"pool": "b"}}}
    assert memory.changed(("llmp", "ns", "p"), relabelled)
    edited = {**relabelled, "metadata": {**relabelled["metadata"], "generation": 2}}
    assert memory.changed(("llmp", "ns", "p"), edited)
    recreated = {**edited, "metadata": {**edited["metadata"], "uid": "u2"}}
    assert memory.changed(("llmp", "ns", "p"), recreated)


def test_routine_kopf_lines_are_dropped_and_the_rest_kept() -> None:
    routine = RoutineKopfLines()

    def record(name: str, level: int, message: str) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, message, None, None)

    assert not routine.filter(record("kopf.objects", logging.INFO, "Handler 'provider_changed' succeeded."))
    retry = "Request attempt #3/∞ failed; will retry: GET https://x/api -> ClientConnectorError()"
    assert not routine.filter(record("kopf._cogs.clients.watching", logging.ERROR, retry))
    assert routine.filter(record("kopf.objects", logging.ERROR, "Handler 'provider_changed' failed with an exception"))
    assert routine.filter(record("switchboard.operator", logging.INFO, "Handler 'x' succeeded."))


def test_kopf_backoff_is_short_capped_and_reusable() -> None:
    backoff = CappedBackoff(first=0.1, cap=1.0)
    first = list(itertools.islice(backoff, 8))
    assert first[0] == 0.1 and max(first) == 1.0 and first[-1] == 1.0
    assert list(itertools.islice(backoff, 8)) == first  # each request starts afresh


def test_the_profile_index_keeps_the_age_the_conflict_rule_needs() -> None:
    created = "2026-03-01T12:00:00Z"
    profile = {
        "metadata": {"name": "chat", "namespace": "ns", "uid": "u", "creationTimestamp": created},
        "spec": {"models": ["m"], "providers": [{"name": "a"}]},
    }
    entry = index.profile_entry(profile)[("ns", "chat")]
    provider = {"metadata": {"name": "a", "namespace": "ns"}, "spec": {"type": "openai", "models": [{"name": "m"}]}}
    result = render(RenderInputs(entry, {"a": provider}, {}))
    assert isinstance(result, Rendered), result
    stamp = result.config.profiles[0].creation_timestamp
    assert stamp is not None and stamp.isoformat().replace("+00:00", "Z") == created
