"""Credentials store and settings: decoding, resolution errors, keys never shown."""

import argparse
import base64

import pytest

from switchboard.api.provider import ProviderConfig, SecretKeyRef
from switchboard.api.status import credential_key
from switchboard.proxy.kube import ClusterSettings, CredentialError, CredentialStore
from switchboard.proxy.kube.credentials import decode_secret_data
from switchboard.proxy.kube.source import add_arguments, settings_from_options


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def _provider(namespace: str, name: str) -> ProviderConfig:
    return ProviderConfig.model_validate(
        {"name": name, "namespace": namespace, "type": "openai", "models": [{"name": "m"}]}
    )


def test_decode_and_resolve() -> None:
    secret = {"data": {"team-a.openai": _b64("sk-aaa\n"), "bad": "%%%not-base64"}}
    store = CredentialStore()
    assert store.replace(decode_secret_data(secret)) is True
    assert store.replace(decode_secret_data(secret)) is False
    key = credential_key("team-a", "openai")
    assert (
        store.resolve(_provider("team-a", "openai"), SecretKeyRef(name="switchboard-credentials", key=key)) == "sk-aaa"
    )
    assert "sk-aaa" not in repr(store)


def test_resolution_errors_name_secret_and_key_never_values() -> None:
    store = CredentialStore()
    store.replace({"team-a.openai": "sk-secret-value", "team-a.other": "sk-other-value"})
    openai = _provider("team-a", "openai")
    with pytest.raises(CredentialError, match=r"has no key 'team-a\.openai'") as missing:
        CredentialStore().resolve(openai, SecretKeyRef(name="switchboard-credentials", key="team-a.openai"))
    with pytest.raises(CredentialError, match="reads only 'switchboard-credentials'") as foreign:
        store.resolve(openai, SecretKeyRef(name="user-secret", key="api-key"))
    assert "sk-secret-value" not in str(missing.value) + str(foreign.value)


def test_a_key_is_resolved_only_for_the_provider_that_owns_it() -> None:
    store = CredentialStore()
    store.replace({"default.openai-mock": "sk-victim-value", "team-x.mine": "sk-own-value"})
    ref = SecretKeyRef(name="switchboard-credentials", key="default.openai-mock")
    for thief in (_provider("team-x", "mine"), _provider("team-x", "openai-mock"), _provider("default", "other")):
        with pytest.raises(CredentialError, match="may use only its own key") as refused:
            store.resolve(thief, ref)
        assert "sk-victim-value" not in str(refused.value)
    assert store.resolve(_provider("default", "openai-mock"), ref) == "sk-victim-value"


def test_fingerprint_changes_with_contents() -> None:
    store = CredentialStore()
    empty = store.fingerprint()
    store.replace({"a.b": "1"})
    assert store.fingerprint() != empty


def test_settings_from_downward_api_env_and_overrides() -> None:
    s = ClusterSettings.from_env({"POD_NAME": "proxy-7", "POD_NAMESPACE": "switchboard"}, status_interval_s=1.5)
    assert (s.replica, s.own_namespace, s.status_interval_s) == ("proxy-7", "switchboard", 1.5)
    with pytest.raises(ValueError, match="heartbeat"):
        ClusterSettings(replica_ttl_s=10, heartbeat_s=20)
    with pytest.raises(ValueError, match="status interval"):
        ClusterSettings(status_interval_s=0)


def test_cli_flags_then_env_then_defaults() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--watch-namespace", "a", "--watch-namespace", "b", "--status-interval", "4"])
    env = {"SWITCHBOARD_KUBECONFIG": "/k.yaml", "POD_NAME": "p-1", "POD_NAMESPACE": "sb"}
    env["SWITCHBOARD_REPLICA_TTL"] = "30"
    s = settings_from_options(args, env)
    assert (s.kubeconfig, s.namespaces, s.status_interval_s, s.replica, s.own_namespace) == (
        "/k.yaml",
        ("a", "b"),
        4.0,
        "p-1",
        "sb",
    )
    assert (s.replica_ttl_s, s.heartbeat_s) == (30.0, 10.0)
    flags = parser.parse_args(["--replica-name", "explicit", "--kubeconfig", "/x"])
    assert settings_from_options(flags, env).replica == "explicit"
    assert settings_from_options(flags, env).kubeconfig == "/x"
    assert settings_from_options(flags, {"SWITCHBOARD_WATCH_NAMESPACES": "x, y"}).namespaces == ("x", "y")
    with pytest.raises(ValueError, match="SWITCHBOARD_STATUS_INTERVAL: expected a number"):
        settings_from_options(flags, {"SWITCHBOARD_STATUS_INTERVAL": "soon"})
