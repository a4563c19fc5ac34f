"""Pure translation of rendered ConfigMaps into the one ProxyConfig a replica serves.

Each ConfigMap keeps its last good parse: a broken edit is reported and skipped,
and the previous version of that ConfigMap (if any) keeps serving, so one bad
``kubectl apply`` never takes a profile down. Parsing is keyed on the
ConfigMap's resourceVersion so unchanged ConfigMaps are never parsed twice.

Trust (docs/security.md): only ConfigMaps of the release namespace, where only
the operator writes, are loaded; and each must stay inside the tenant namespace
it is labelled with: every provider and profile in it belongs to that
namespace, and every API key it names is that namespace's own key of that very
provider in the credentials Secret. Keys from the proxy's environment or files
are refused. A ConfigMap breaking any rule is refused whole, like a broken one.
"""

import hashlib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from switchboard.api.config import ConfigError, ProxyConfig, load_config, merge_configs
from switchboard.api.egress import EgressPolicy
from switchboard.api.object_key import object_key, split_key
from switchboard.api.provider import ProviderConfig
from switchboard.api.status import (
    CONFIG_DATA_KEY,
    CONFIG_HASH_ANNOTATION,
    CREDENTIALS_SECRET,
    NAMESPACE_LABEL,
    credential_key,
)

INVALID, UNTRUSTED, EGRESS_DENIED = "InvalidConfig", "UntrustedConfig", "EgressDenied"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass(frozen=True, slots=True, order=True)
class ObjectRef:
    """``namespace/name`` of a Kubernetes object."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return object_key(self.namespace, self.name)

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> "ObjectRef":
        meta = obj.get("metadata") or {}
        return cls(str(meta.get("namespace") or ""), str(meta.get("name") or ""))

    @classmethod
    def from_key(cls, key: str) -> "ObjectRef | None":
        """A provider or profile key ("namespace/name"); None for a standalone one (no namespace)."""
        namespace, name = split_key(key)
        return cls(namespace, name) if namespace and name else None


@dataclass(frozen=True, slots=True)
class RenderedConfig:
    """One ConfigMap's config as parsed, with the hash it was rendered under."""

    source: ObjectRef
    resource_version: str
    config_hash: str
    config: ProxyConfig


@dataclass(frozen=True, slots=True)
class Trust:
    """Where rendered config may come from (the release namespace, the one credentials Secret)
    and where its providers may point (the egress policy; names are checked again after DNS)."""

    config_namespace: str
    credentials_secret: str = CREDENTIALS_SECRET
    egress: EgressPolicy = field(default_factory=EgressPolicy)


@dataclass(frozen=True, slots=True)
class RenderError:
    """Why a ConfigMap version cannot be served; ``message`` names the field.

    ``reason`` is ``InvalidConfig`` (broken) or ``UntrustedConfig`` (crosses a trust boundary).
    """

    source: ObjectRef
    resource_version: str
    message: str
    reason: str = INVALID

    def __str__(self) -> str:
        return f"ConfigMap {self.source}: {self.message}"


@dataclass(frozen=True, slots=True)
class RenderedState:
    good: Mapping[ObjectRef, RenderedConfig] = field(default_factory=dict)
    errors: Mapping[ObjectRef, RenderError] = field(default_factory=dict)


def config_hash_of(text: str) -> str:
    """The same hash the operator annotates: sha256 hex of the data."""
    return hashlib.sha256(text.encode()).hexdigest()


def parse_rendered(obj: Mapping[str, Any], trust: Trust) -> RenderedConfig | RenderError:
    """Parse and check one ConfigMap (raw API dict); never raises."""
    ref = ObjectRef.of(obj)
    meta = obj.get("metadata") or {}
    version = str(meta.get("resourceVersion") or "")
    tenant = str((meta.get("labels") or {}).get(NAMESPACE_LABEL) or "")
    if ref.namespace != trust.config_namespace:
        message = f"rendered config is loaded only from namespace {trust.config_namespace!r}"
        return RenderError(ref, version, message, UNTRUSTED)
    if not _DNS_LABEL.match(tenant):
        message = f"label {NAMESPACE_LABEL} must name the namespace the config belongs to, got {tenant!r}"
        return RenderError(ref, version, message, UNTRUSTED)
    data = obj.get("data") or {}
    text = data.get(CONFIG_DATA_KEY)
    if not isinstance(text, str):
        return RenderError(ref, version, f"data: missing key {CONFIG_DATA_KEY!r}")
    try:
        config = load_config(text)
    except ConfigError as e:
        return RenderError(ref, version, f"{CONFIG_DATA_KEY}: {e}")
    violation = scope_violation(config, tenant, trust.credentials_secret)
    if violation is not None:
        return RenderError(ref, version, f"{CONFIG_DATA_KEY}: {violation}", UNTRUSTED)
    for i, provider in enumerate(config.providers):
        denied = trust.egress.check_url(tenant, provider.effective_base_url)
        if denied is not None:
            message = f"{CONFIG_DATA_KEY}: providers[{i}].baseUrl {provider.effective_base_url}: {denied}"
            return RenderError(ref, version, message, EGRESS_DENIED)
    annotations = meta.get("annotations") or {}
    digest = annotations.get(CONFIG_HASH_ANNOTATION) or config_hash_of(text)
    return RenderedConfig(ref, version, str(digest), config)


def scope_violation(config: ProxyConfig, namespace: str, credentials_secret: str) -> str | None:
    """The first thing in ``config`` that reaches outside ``namespace``, or None."""
    for i, provider in enumerate(config.providers):
        if provider.namespace != namespace:
            return f"providers[{i}] ({provider.key}) is not in namespace {namespace!r}"
        problem = _credential_violation(provider, credentials_secret)
        if problem is not None:
            return f"providers[{i}].apiKey: {problem}"
    for i, profile in enumerate(config.profiles):
        if profile.namespace != namespace:
            return f"profiles[{i}] ({profile.key}) is not in namespace {namespace!r}"
    return None


def _credential_violation(provider: ProviderConfig, credentials_secret: str) -> str | None:
    source = provider.api_key
    if source is None:
        return None
    if source.secret is None:
        return "only the credentials Secret may hold keys in cluster mode (env and file are refused)"
    own = credential_key(provider.namespace or "", provider.name)
    if source.secret.name != credentials_secret or source.secret.key != own:
        return f"provider {provider.key} may use only its own key {own!r} of Secret {credentials_secret!r}"
    return None


def reconcile(previous: RenderedState, objects: Mapping[ObjectRef, Mapping[str, Any]], trust: Trust) -> RenderedState:
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
            parsed = parse_rendered(obj, trust)
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


def missing_credentials(state: RenderedState, available: Collection[str], secret: str) -> dict[ObjectRef, str]:
    """ConfigMaps naming a key the credentials Secret does not hold -> why.

    Such a ConfigMap is left out (its profiles are not served) instead of failing the
    whole merged config: one namespace's missing key never stops another's updates.
    """
    missing: dict[ObjectRef, str] = {}
    for ref, rendered in sorted(state.good.items()):
        for provider in rendered.config.providers:
            source = provider.api_key.secret if provider.api_key is not None else None
            if source is not None and source.key not in available:
                missing[ref] = f"provider {provider.key}: Secret {secret!r} has no key {source.key!r}"
                break
    return missing


def merged_config(state: RenderedState, leave_out: Collection[ObjectRef] = ()) -> ProxyConfig:
    """Union of every servable ConfigMap but ``leave_out``, in a stable order; may raise ConfigError."""
    return merge_configs(state.good[ref].config for ref in sorted(state.good) if ref not in leave_out)


def served_hashes(state: RenderedState, leave_out: Collection[ObjectRef] = ()) -> dict[ObjectRef, str]:
    """RoutingProfile (namespace/name) -> the config hash this replica serves for it."""
    served: dict[ObjectRef, str] = {}
    for ref in sorted(state.good):
        if ref in leave_out:
            continue
        rendered = state.good[ref]
        for profile in rendered.config.profiles:
            served[ObjectRef(profile.namespace or ref.namespace, profile.name)] = rendered.config_hash
    return served
