"""ProxyConfig: what the proxy loads, from a file (standalone) or from the
ConfigMaps the operator renders (one per RoutingProfile). Same schema both ways."""

from collections.abc import Iterable
from typing import Any, Literal, Self

import yaml
from pydantic import Field, ValidationError, model_validator

from switchboard.api import yaml_guard
from switchboard.api.base import Model
from switchboard.api.object_key import object_key
from switchboard.api.profile import ProfileConfig
from switchboard.api.provider import ProviderConfig

MAX_CONFIG_BYTES = 8 * 1024 * 1024
"""Far above any real config (a ConfigMap holds at most 1 MiB); bounds the parser's work."""


class ConfigError(ValueError):
    """A config that cannot be used; the message names the offending field."""


class Fleet(Model):
    """How many proxy replicas share the fleet-wide rate limits."""

    replicas: int = Field(
        1, ge=1, le=10000, description="Proxy replicas; each enforces 1/replicas of every fleet-wide limit."
    )


class ProxyConfig(Model):
    """The proxy's whole configuration: the standalone file, or one rendered ConfigMap's ``config.yaml``.

    Provider and profile names are unique, and every profile's providers (and their
    ``model`` overrides) must exist in ``providers``.
    """

    api_version: Literal["switchboard.dev/v1alpha1"] = Field("switchboard.dev/v1alpha1", description="Schema version.")
    kind: Literal["ProxyConfig"] = Field("ProxyConfig", description="Always ProxyConfig.")
    fleet: Fleet = Field(Fleet(), description="Fleet size for splitting rate limits.")
    providers: tuple[ProviderConfig, ...] = Field((), description="Upstreams; names unique.")
    profiles: tuple[ProfileConfig, ...] = Field((), description="Routing profiles; names unique.")

    @model_validator(mode="after")
    def _check_references(self) -> Self:
        _require_unique("providers", [p.key for p in self.providers])
        _require_unique("profiles", [p.key for p in self.profiles])
        known = {p.key for p in self.providers}
        for i, profile in enumerate(self.profiles):
            for j, ref in enumerate(profile.providers):
                key = object_key(profile.namespace, ref.name)
                if key not in known:
                    raise ValueError(f"profiles[{i}].providers[{j}].name: unknown provider {ref.name!r}")
                provider = self.provider(key)
                if ref.model is not None and provider is not None and provider.model(ref.model) is None:
                    raise ValueError(
                        f"profiles[{i}].providers[{j}].model: provider {ref.name!r} has no model {ref.model!r}"
                    )
        return self

    def provider(self, key: str) -> ProviderConfig | None:
        return next((p for p in self.providers if p.key == key), None)

    def provider_for(self, profile: ProfileConfig, name: str) -> ProviderConfig:
        """Resolve a profile's provider reference (same namespace as the profile)."""
        key = object_key(profile.namespace, name)
        provider = self.provider(key)
        if provider is None:  # impossible after validation; kept for type narrowing
            raise KeyError(key)
        return provider

    def served_models(self) -> list[str]:
        """Every public model name some profile serves, sorted, without duplicates."""
        return sorted({m for p in self.profiles for m in p.models})


def _require_unique(what: str, keys: list[str]) -> None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise ValueError(f"{what}: duplicate name {key!r}")
        seen.add(key)


def format_validation_error(error: ValidationError) -> str:
    """One line per problem, each naming the field path as written in YAML."""
    lines = []
    for err in error.errors():
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        message = err["msg"].removeprefix("Value error, ")
        lines.append(f"{path}: {message}" if path else message)
    return "; ".join(lines)


def parse_config(data: Any) -> ProxyConfig:
    """Validate already-decoded data (a dict) into a ProxyConfig."""
    if not isinstance(data, dict):
        raise ConfigError(f"config must be a mapping, got {type(data).__name__}")
    try:
        return ProxyConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e)) from None


def load_config(text: str | bytes) -> ProxyConfig:
    """Parse YAML or JSON text into a ProxyConfig, raising ConfigError."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config is {len(text)} bytes; the limit is {MAX_CONFIG_BYTES}")
    try:
        data = yaml_guard.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"not valid YAML: {e}") from None
    return parse_config(data)


def merge_configs(parts: Iterable[ProxyConfig]) -> ProxyConfig:
    """Union of several rendered configs (one per profile ConfigMap).

    Providers shared by several profiles appear once; the largest fleet size wins.
    """
    providers: dict[str, ProviderConfig] = {}
    profiles: dict[str, ProfileConfig] = {}
    replicas = 1
    for part in parts:
        replicas = max(replicas, part.fleet.replicas)
        providers.update((p.key, p) for p in part.providers)
        profiles.update((p.key, p) for p in part.profiles)
    return ProxyConfig(
        fleet=Fleet(replicas=replicas),
        providers=tuple(providers[k] for k in sorted(providers)),
        profiles=tuple(profiles[k] for k in sorted(profiles)),
    )
