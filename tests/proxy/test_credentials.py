"""Credential resolution: env, file, secret resolver; keys never printed."""

from pathlib import Path

import pytest

from switchboard.api.config import ConfigError
from switchboard.api.provider import CredentialSource, ProviderConfig, SecretKeyRef
from switchboard.proxy.credentials import ApiKey, resolve_credentials
from tests.fixtures.proxy import provider_config, proxy_config


def _config(source: CredentialSource) -> object:
    provider = provider_config("p", "openai", "http://127.0.0.1:1")
    return proxy_config([provider.model_copy(update={"api_key": source})])


async def test_env_and_file_keys_resolve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SB_TEST_KEY", "sk-env-secret")
    keys = await resolve_credentials(_config(CredentialSource(env="SB_TEST_KEY")))  # type: ignore[arg-type]
    assert keys["p"].reveal() == "sk-env-secret"
    assert "sk-env-secret" not in repr(keys) and "sk-env-secret" not in str(keys["p"])
    key_file = tmp_path / "key"
    key_file.write_text("sk-file-secret\n")
    keys = await resolve_credentials(_config(CredentialSource(file=str(key_file))))  # type: ignore[arg-type]
    assert keys["p"] == ApiKey("sk-file-secret")


async def test_missing_env_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SB_MISSING_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"providers\[0\]\.apiKey\.env: .*SB_MISSING_KEY"):
        await resolve_credentials(_config(CredentialSource(env="SB_MISSING_KEY")))  # type: ignore[arg-type]


async def test_secret_needs_a_resolver_and_uses_it() -> None:
    source = CredentialSource(secret=SecretKeyRef(name="creds", key="openai"))
    with pytest.raises(ConfigError, match=r"apiKey\.secret"):
        await resolve_credentials(_config(source))  # type: ignore[arg-type]

    async def resolver(provider: ProviderConfig, ref: SecretKeyRef) -> str:
        if ref.key != "openai":
            raise LookupError(f"Secret {ref.name!r} has no key {ref.key!r}")
        return "sk-from-secret"

    keys = await resolve_credentials(_config(source), resolver)  # type: ignore[arg-type]
    assert keys["p"].reveal() == "sk-from-secret"
    bad = CredentialSource(secret=SecretKeyRef(name="creds", key="other"))
    with pytest.raises(ConfigError, match="has no key 'other'"):
        await resolve_credentials(_config(bad), resolver)  # type: ignore[arg-type]
