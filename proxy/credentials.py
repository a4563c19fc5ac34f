"""API key resolution at config-load time.

Keys are looked up once per config (env var or file in standalone mode, a
Secret through a resolver that cluster mode plugs in) so a missing key fails
the reload, not a request. Keys live only in ``ApiKey`` objects, whose repr and
str never show them, so they cannot leak into logs, metrics or errors.
"""

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from switchboard.api.config import ConfigError, ProxyConfig
from switchboard.api.provider import CredentialSource, ProviderConfig, SecretKeyRef

SecretResolver = Callable[[ProviderConfig, SecretKeyRef], Awaitable[str]]
"""Looks up a Secret-referenced key for a provider; raises ``LookupError`` when it is missing."""


class ApiKey:
    """An API key that never prints itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "ApiKey(****)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiKey) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


async def _resolve_one(
    index: int, provider: ProviderConfig, source: CredentialSource, secrets: SecretResolver | None
) -> ApiKey:
    field = f"providers[{index}].apiKey"
    if source.env is not None:
        value = os.environ.get(source.env)
        if not value:
            raise ConfigError(f"{field}.env: environment variable {source.env!r} is not set or empty")
        return ApiKey(value)
    if source.file is not None:
        try:
            value = (await asyncio.to_thread(Path(source.file).read_text, encoding="utf-8")).strip()
        except OSError as e:
            raise ConfigError(f"{field}.file: cannot read {source.file!r}: {e.strerror}") from None
        if not value:
            raise ConfigError(f"{field}.file: {source.file!r} is empty")
        return ApiKey(value)
    assert source.secret is not None  # exactly one is set, enforced by CredentialSource
    if secrets is None:
        raise ConfigError(f"{field}.secret: Secret references need cluster mode (--kubernetes)")
    try:
        value = await secrets(provider, source.secret)
    except LookupError as e:
        raise ConfigError(f"{field}.secret: {e}") from None
    if not value:
        raise ConfigError(f"{field}.secret: Secret {source.secret.name!r} key {source.secret.key!r} is empty")
    return ApiKey(value)


async def resolve_credentials(config: ProxyConfig, secrets: SecretResolver | None = None) -> Mapping[str, ApiKey]:
    """Provider key -> API key for every provider that has one; ConfigError names the field."""
    keys: dict[str, ApiKey] = {}
    for index, provider in enumerate(config.providers):
        if provider.api_key is not None:
            keys[provider.key] = await _resolve_one(index, provider, provider.api_key, secrets)
    return keys
