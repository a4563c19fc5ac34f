"""Pure: ConfigMaps -> per-ConfigMap last good state -> merged config and served hashes."""

from typing import Any

import yaml

from switchboard.api.egress import EgressPolicy
from switchboard.proxy.kube.rendered import (
    ObjectRef,
    RenderedConfig,
    RenderedState,
    RenderError,
    Trust,
    merged_config,
    missing_credentials,
    new_errors,
    parse_rendered,
    reconcile,
    served_hashes,
)
from tests.fixtures.kubeproxy import rendered_config_text, rendered_configmap

RELEASE = "switchboard-system"
TRUST = Trust(RELEASE, egress=EgressPolicy(allow_loopback=True))  # the fixtures' upstreams are on loopback
A = ObjectRef(RELEASE, "team-a.chat-rendered")
B = ObjectRef(RELEASE, "team-b.chat-rendered")


def _tenant(ref: ObjectRef) -> str:
    return ref.name.partition(".")[0]


def _cm(ref: ObjectRef, provider: str, rv: str, models: tuple[str, ...] = ("gpt-4o",)) -> dict[str, Any]:
    text = rendered_config_text(_tenant(ref), "chat", provider, models)
    return rendered_configmap(_tenant(ref), "chat-rendered", text, rv)


def parse_rendered_ok(obj: dict[str, Any]) -> RenderedConfig | RenderError:
    return parse_rendered(obj, TRUST)


def reconcile_ok(previous: RenderedState, objects: dict[ObjectRef, Any]) -> RenderedState:
    return reconcile(previous, objects, TRUST)


def test_parse_valid_configmap_uses_annotated_hash() -> None:
    obj = _cm(A, "openai", "7")
    parsed = parse_rendered_ok(obj)
    assert isinstance(parsed, RenderedConfig)
    assert parsed.resource_version == "7"
    assert parsed.config_hash == obj["metadata"]["annotations"]["switchboard.dev/config-hash"]  # type: ignore[index]
    assert [p.key for p in parsed.config.providers] == ["team-a/openai"]


def test_parse_errors_name_configmap_and_field() -> None:
    broken = _cm(A, "openai", "2")
    broken["data"] = {"config.yaml": "providers:\n  - name: x\n    type: bogus\n    models: [{name: m}]\n"}
    error = parse_rendered_ok(broken)
    assert isinstance(error, RenderError)
    assert f"{RELEASE}/team-a.chat-rendered" in str(error)
    assert "config.yaml: providers[0].type" in error.message

    missing = _cm(A, "openai", "3")
    missing["data"] = {}
    error = parse_rendered_ok(missing)
    assert isinstance(error, RenderError) and "missing key 'config.yaml'" in error.message

    not_yaml = _cm(A, "openai", "4")
    not_yaml["data"] = {"config.yaml": "a: [unclosed"}
    error = parse_rendered_ok(not_yaml)
    assert isinstance(error, RenderError) and "not valid YAML" in error.message


def test_merge_of_two_namespaces_and_served_hashes() -> None:
    state = reconcile_ok(RenderedState(), {A: _cm(A, "openai", "1"), B: _cm(B, "anthropic", "1")})
    assert not state.errors
    config = merged_config(state)
    assert [p.key for p in config.providers] == ["team-a/openai", "team-b/anthropic"]
    assert [p.key for p in config.profiles] == ["team-a/chat", "team-b/chat"]
    hashes = served_hashes(state)
    assert set(hashes) == {ObjectRef("team-a", "chat"), ObjectRef("team-b", "chat")}
    assert hashes[ObjectRef("team-a", "chat")] == state.good[A].config_hash


def test_broken_update_keeps_last_good_version_and_is_reported_once() -> None:
    first = reconcile_ok(RenderedState(), {A: _cm(A, "openai", "1"), B: _cm(B, "anthropic", "1")})
    broken = _cm(A, "openai", "2")
    broken["data"] = {"config.yaml": "kind: Nope"}
    second = reconcile_ok(first, {A: broken, B: _cm(B, "anthropic", "1")})
    assert second.good[A] is first.good[A]  # last good version still served
    assert second.good[B] is first.good[B]  # unchanged: not reparsed
    assert [e.source for e in new_errors(first, second)] == [A]
    third = reconcile_ok(second, {A: broken, B: _cm(B, "anthropic", "1")})
    assert new_errors(second, third) == []  # same broken version: not reported again
    fixed = reconcile_ok(third, {A: _cm(A, "openai", "3", ("gpt-4o-mini",)), B: _cm(B, "anthropic", "1")})
    assert not fixed.errors
    assert merged_config(fixed).served_models() == ["gpt-4o", "gpt-4o-mini"]


def test_broken_new_configmap_is_skipped_and_deleted_one_dropped() -> None:
    broken = _cm(B, "anthropic", "5")
    broken["data"] = {"config.yaml": "[]"}
    state = reconcile_ok(RenderedState(), {A: _cm(A, "openai", "1"), B: broken})
    assert list(state.good) == [A]
    assert "config must be a mapping" in state.errors[B].message
    assert [p.key for p in merged_config(state).profiles] == ["team-a/chat"]
    gone = reconcile_ok(state, {B: broken})
    assert not gone.good and list(gone.errors) == [B]


def _refusal(obj: dict[str, Any]) -> str:
    parsed = parse_rendered_ok(obj)
    assert isinstance(parsed, RenderError) and parsed.reason == "UntrustedConfig", parsed
    return parsed.message


def test_config_outside_the_release_namespace_is_refused() -> None:
    text = rendered_config_text("team-x", "chat", "openai")
    assert "only from namespace 'switchboard-system'" in _refusal(
        rendered_configmap("team-x", "chat", text, "1", config_namespace="team-x")
    )


def test_config_must_say_which_namespace_it_belongs_to() -> None:
    obj = _cm(A, "openai", "1")
    del obj["metadata"]["labels"]["switchboard.dev/namespace"]
    assert "label switchboard.dev/namespace" in _refusal(obj)


def test_a_config_cannot_redefine_another_namespaces_provider_or_profile() -> None:
    # Labelled team-x, but redefines default/openai-mock: the hijack of issue 18.
    forged = rendered_config_text("default", "chat", "openai-mock", secret_key="default.openai-mock")
    assert "providers[0] (default/openai-mock) is not in namespace 'team-x'" in _refusal(
        rendered_configmap("team-x", "chat", forged, "1")
    )
    profile_elsewhere = rendered_config_text("team-x", "chat", "p").replace(
        "  namespace: team-x\n  models", "  namespace: default\n  models"
    )  # its providers would be default's: not even a valid config
    assert isinstance(parse_rendered_ok(rendered_configmap("team-x", "chat", profile_elsewhere, "1")), RenderError)


def test_a_provider_may_name_only_its_own_key() -> None:
    stolen = rendered_config_text("team-x", "chat", "mine", secret_key="default.openai-mock")
    message = _refusal(rendered_configmap("team-x", "chat", stolen, "1"))
    assert "team-x/mine may use only its own key 'team-x.mine'" in message
    other_secret = stolen.replace("switchboard-credentials", "db-password").replace(
        "default.openai-mock", "team-x.mine"
    )
    assert "Secret 'switchboard-credentials'" in _refusal(rendered_configmap("team-x", "chat", other_secret, "1"))
    own = rendered_config_text("team-x", "chat", "mine", secret_key="team-x.mine")
    assert isinstance(parse_rendered_ok(rendered_configmap("team-x", "chat", own, "1")), RenderedConfig)


def test_keys_from_the_proxys_own_environment_or_files_are_refused() -> None:
    for source in ("{env: KUBERNETES_SERVICE_HOST}", "{file: /var/run/secrets/kubernetes.io/serviceaccount/token}"):
        text = rendered_config_text("team-x", "chat", "p", provider_extra={"apiKey": yaml_flow(source)})
        assert "env and file are refused" in _refusal(rendered_configmap("team-x", "chat", text, "1"))


def yaml_flow(text: str) -> Any:
    return yaml.safe_load(text)


def test_a_refused_update_keeps_the_last_good_version() -> None:
    first = reconcile_ok(RenderedState(), {A: _cm(A, "openai", "1")})
    forged = _cm(A, "openai", "2")
    forged["data"]["config.yaml"] = rendered_config_text("team-b", "chat", "openai")
    second = reconcile_ok(first, {A: forged})
    assert second.good[A] is first.good[A]
    assert [e.reason for e in new_errors(first, second)] == ["UntrustedConfig"]


def test_a_configmap_whose_key_is_missing_is_left_out_alone() -> None:
    a = _cm(A, "openai", "1")
    a["data"]["config.yaml"] = rendered_config_text("team-a", "chat", "openai", secret_key="team-a.openai")
    state = reconcile_ok(RenderedState(), {A: a, B: _cm(B, "anthropic", "1")})
    missing = missing_credentials(state, frozenset(), "switchboard-credentials")
    assert missing == {A: "provider team-a/openai: Secret 'switchboard-credentials' has no key 'team-a.openai'"}
    assert [p.key for p in merged_config(state, leave_out=missing).profiles] == ["team-b/chat"]
    assert list(served_hashes(state, leave_out=missing)) == [ObjectRef("team-b", "chat")]
    assert missing_credentials(state, frozenset({"team-a.openai"}), "switchboard-credentials") == {}


def test_a_provider_pointing_where_the_egress_policy_forbids_is_refused() -> None:
    text = rendered_config_text("team-a", "chat", "meta", base_url="http://169.254.169.254/latest")
    parsed = parse_rendered(rendered_configmap("team-a", "chat", text, "1"), Trust(RELEASE))
    assert isinstance(parsed, RenderError) and parsed.reason == "EgressDenied"
    assert "providers[0].baseUrl http://169.254.169.254/latest: 169.254.169.254 is link-local" in parsed.message
    strict = Trust(RELEASE)  # the default: loopback refused too
    assert isinstance(parse_rendered(_cm(A, "openai", "1"), strict), RenderError)
