"""Pure translation of rendered ConfigMaps into the one ProxyConfig a replica serves.

Each ConfigMap keeps its last good parse: a broken edit is reported and skipped,
and the previous version of that ConfigMap (if any) keeps serving, so one bad
``kubectl apply`` never takes a profile down. Parsing is keyed on the
ConfigMap's resourceVersion so unchanged ConfigMaps are never parsed twice.
"""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from switchboard.api.config import ConfigError, ProxyConfig, load_config, merge_configs
from switchboard.api.status import CONFIG_DATA_KEY, CONFIG_HASH_ANNOTATION


@dataclass(frozen=True, slots=True, order=True)
class ObjectRef:
    """``namespace/name`` of a Kubernetes object."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> "ObjectRef":
        meta = obj.get("metadata") or {}
        return cls(str(meta.get("namespace") or ""), str(meta.get("name") or ""))

    @classmethod
    def from_key(cls, key: str) -> "ObjectRef | None":
        """A provider or profile key ("namespace/name"); None for a standalone one (no namespace)."""
        namespace, _, name = key.rpartition("/")
        return cls(namespace, name) if namespace and name else None


@dataclass(frozen=True, slots=True)
class RenderedConfig:
    """One ConfigMap's config as parsed, with the hash it was rendered under."""

    source: ObjectRef
    resource_version: str
    config_hash: str
    config: ProxyConfig


@dataclass(frozen=True, slots=True)
class RenderError:
    """Why a ConfigMap version cannot be served; ``message`` names the field."""

    source: ObjectRef
    resource_version: str
    message: str

    def __str__(self) -> str:
        return f"ConfigMap {self.source}: {self.message}"


@dataclass(frozen=True, slots=True)
class RenderedState:
    good: Mapping[ObjectRef, RenderedConfig] = field(default_factory=dict)
    errors: Mapping[ObjectRef, RenderError] = field(default_factory=dict)


def config_hash_of(text: str) -> str:
    """The same hash the operator annotates: sha256 hex of the data."""
    return hashlib.sha256(text.encode()).hexdigest()


def parse_rendered(obj: Mapping[str, Any]) -> RenderedConfig | RenderError:
    """Parse one ConfigMap (raw API dict); never raises."""
    ref = ObjectRef.of(obj)
    meta = obj.get("metadata") or {}
    version = str(meta.get("resourceVersion") or "")
    data = obj.get("data") or {}
    text = data.get(CONFIG_DATA_KEY)
    if not isinstance(text, str):
        return RenderError(ref, version, f"data: missing key {CONFIG_DATA_KEY!r}")
    try:
        config = load_config(text)
    except ConfigError as e:
        return RenderError(ref, version, f"{CONFIG_DATA_KEY}: {e}")
    annotations = meta.get("annotations") or {}
    digest = annotations.get(CONFIG_HASH_ANNOTATION) or config_hash_of(text)
    return RenderedConfig(ref, version, str(digest), config)


def reconcile(previous: RenderedState, objects: Mapping[ObjectRef, Mapping[str, Any]]) -> RenderedState:
    """Next state from the current set of ConfigMaps; reparses only changed ones."""
    good: dict[ObjectRef, RenderedConfig] = {}
    errors: dict[ObjectRef, RenderError] = {}
    for ref, obj in objects.items():
        version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
        last_good = previous.good.get(ref)
        last_error = previous.errors.get(ref)
        if last_good is not None and last_good.resource_version == version:
            good[ref] = last_good
            continue
        if last_error is not None and last_error.resource_version == version:
            parsed: RenderedConfig | RenderError = last_error
        else:
            parsed = parse_rendered(obj)
        if isinstance(parsed, RenderedConfig):
            good[ref] = parsed
        else:
            errors[ref] = parsed
            if last_good is not None:
                good[ref] = last_good
    return RenderedState(good=good, errors=errors)


def new_errors(previous: RenderedState, current: RenderedState) -> list[RenderError]:
    """Errors not reported before (a new ConfigMap version that is broken)."""
    return [e for ref, e in sorted(current.errors.items()) if previous.errors.get(ref) != e]


def merged_config(state: RenderedState) -> ProxyConfig:
    """Union of every servable ConfigMap, in a stable order; may raise ConfigError."""
    return merge_configs(state.good[ref].config for ref in sorted(state.good))


def served_hashes(state: RenderedState) -> dict[ObjectRef, str]:
    """RoutingProfile (namespace/name) -> the config hash this replica serves for it."""
    served: dict[ObjectRef, str] = {}
    for ref in sorted(state.good):
        rendered = state.good[ref]
        for profile in rendered.config.profiles:
            served[ObjectRef(profile.namespace or ref.namespace, profile.name)] = rendered.config_hash
    return served
