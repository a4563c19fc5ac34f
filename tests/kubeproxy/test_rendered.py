"""Pure: ConfigMaps -> per-ConfigMap last good state -> merged config and served hashes."""

from switchboard.proxy.kube.rendered import (
    ObjectRef,
    RenderedConfig,
    RenderedState,
    RenderError,
    merged_config,
    new_errors,
    parse_rendered,
    reconcile,
    served_hashes,
)
from tests.fixtures.kubeproxy import rendered_config_text, rendered_configmap

A = ObjectRef("team-a", "chat-rendered")
B = ObjectRef("team-b", "chat-rendered")


def _cm(ref: ObjectRef, provider: str, rv: str, models: tuple[str, ...] = ("gpt-4o",)) -> dict[str, object]:
    text = rendered_config_text(ref.namespace, "chat", provider, models)
    return rendered_configmap(ref.namespace, ref.name, text, rv)


def test_parse_valid_configmap_uses_annotated_hash() -> None:
    obj = _cm(A, "openai", "7")
    parsed = parse_rendered(obj)
    assert isinstance(parsed, RenderedConfig)
    assert parsed.resource_version == "7"
    assert parsed.config_hash == obj["metadata"]["annotations"]["switchboard.dev/config-hash"]  # type: ignore[index]
    assert [p.key for p in parsed.config.providers] == ["team-a/openai"]


def test_parse_errors_name_configmap_and_field() -> None:
    broken = _cm(A, "openai", "2")
    broken["data"] = {"config.yaml": "providers:\n  - name: x\n    type: bogus\n    models: [{name: m}]\n"}
    error = parse_rendered(broken)
    assert isinstance(error, RenderError)
    assert "team-a/chat-rendered" in str(error)
    assert "config.yaml: providers[0].type" in error.message

    missing = _cm(A, "openai", "3")
    missing["data"] = {}
    error = parse_rendered(missing)
    assert isinstance(error, RenderError) and "missing key 'config.yaml'" in error.message

    not_yaml = _cm(A, "openai", "4")
    not_yaml["data"] = {"config.yaml": "a: [unclosed"}
    error = parse_rendered(not_yaml)
    assert isinstance(error, RenderError) and "not valid YAML" in error.message


def test_merge_of_two_namespaces_and_served_hashes() -> None:
    state = reconcile(RenderedState(), {A: _cm(A, "openai", "1"), B: _cm(B, "anthropic", "1")})
    assert not state.errors
    config = merged_config(state)
    assert [p.key for p in config.providers] == ["team-a/openai", "team-b/anthropic"]
    assert [p.key for p in config.profiles] == ["team-a/chat", "team-b/chat"]
    hashes = served_hashes(state)
    assert set(hashes) == {ObjectRef("team-a", "chat"), ObjectRef("team-b", "chat")}
    assert hashes[ObjectRef("team-a", "chat")] == state.good[A].config_hash


def test_broken_update_keeps_last_good_version_and_is_reported_once() -> None:
    first = reconcile(RenderedState(), {A: _cm(A, "openai", "1"), B: _cm(B, "anthropic", "1")})
    broken = _cm(A, "openai", "2")
    broken["data"] = {"config.yaml": "kind: Nope"}
    second = reconcile(first, {A: broken, B: _cm(B, "anthropic", "1")})
    assert second.good[A] is first.good[A]  # last good version still served
    assert second.good[B] is first.good[B]  # unchanged: not reparsed
    assert [e.source for e in new_errors(first, second)] == [A]
    third = reconcile(second, {A: broken, B: _cm(B, "anthropic", "1")})
    assert new_errors(second, third) == []  # same broken version: not reported again
    fixed = reconcile(third, {A: _cm(A, "openai", "3", ("gpt-4o-mini",)), B: _cm(B, "anthropic", "1")})
    assert not fixed.errors
    assert merged_config(fixed).served_models() == ["gpt-4o", "gpt-4o-mini"]


def test_broken_new_configmap_is_skipped_and_deleted_one_dropped() -> None:
    broken = _cm(B, "anthropic", "5")
    broken["data"] = {"config.yaml": "[]"}
    state = reconcile(RenderedState(), {A: _cm(A, "openai", "1"), B: broken})
    assert list(state.good) == [A]
    assert "config must be a mapping" in state.errors[B].message
    assert [p.key for p in merged_config(state).profiles] == ["team-a/chat"]
    gone = reconcile(state, {B: broken})
    assert not gone.good and list(gone.errors) == [B]
