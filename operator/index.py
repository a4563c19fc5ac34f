"""What the operator remembers of the cluster (kopf in-memory indices) and how it
answers "who depends on this?" without scanning.

Index functions are pure: body in, ``{key: value}`` out. Secrets are indexed by
their key NAMES only; values never enter the operator's memory except for the
moment they are copied into the credentials Secret.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from switchboard.api.clientkeys import ClientKeySecret
from switchboard.api.provider import granted_providers
from switchboard.operator.conflicts import Claimant, claimant
from switchboard.operator.render import RenderInputs, RenderSettings, SecretFacts

Body = Mapping[str, Any]
SELECTOR = "*"  # index key for "every profile with a providerSelector" in a namespace


def _meta(body: Body, *fields: str) -> dict[str, Any]:
    meta = body.get("metadata", {})
    return {f: meta[f] for f in fields if meta.get(f) is not None}


def profile_entry(body: Body) -> dict[tuple[str, str], dict[str, Any]]:
    """(namespace, name) -> what rendering needs of a RoutingProfile."""
    meta = _meta(body, "name", "namespace", "uid", "generation", "creationTimestamp")  # age: precedence
    entry = {"apiVersion": body.get("apiVersion"), "kind": body.get("kind"), "metadata": meta}
    entry |= {"spec": dict(body.get("spec") or {}), "status": dict(body.get("status") or {})}
    return {(meta["namespace"], meta["name"]): entry}


def profile_claims(body: Body) -> dict[str, Claimant]:
    """model name -> the profile's claim on it (every namespace: the conflict rule is cluster-wide)."""
    claim = claimant(body)
    return dict.fromkeys(claim.models, claim)


def profile_dependencies(body: Body) -> dict[tuple[str, str], str]:
    """(namespace, provider name or SELECTOR) -> profile name."""
    meta = body.get("metadata", {})
    spec = body.get("spec") or {}
    keys = {(meta["namespace"], str(ref.get("name"))) for ref in spec.get("providers") or [] if isinstance(ref, dict)}
    if spec.get("providerSelector") is not None:
        keys.add((meta["namespace"], SELECTOR))
    return dict.fromkeys(keys, meta["name"])


def provider_entry(body: Body) -> dict[str, dict[str, Any]]:
    """namespace -> what rendering needs of an LLMProvider."""
    meta = _meta(body, "name", "namespace", "uid", "generation", "labels")
    entry = {"apiVersion": body.get("apiVersion"), "kind": body.get("kind"), "metadata": meta}
    entry |= {"spec": dict(body.get("spec") or {}), "status": dict(body.get("status") or {})}
    return {meta["namespace"]: entry}


def provider_secret(body: Body) -> dict[tuple[str, str], str]:
    """(namespace, Secret name) -> provider name, for providers with an API key."""
    meta = body.get("metadata", {})
    ref = (body.get("spec") or {}).get("apiKeySecretRef")
    if not isinstance(ref, dict) or not ref.get("name"):
        return {}
    return {(meta["namespace"], str(ref["name"])): meta["name"]}


def secret_keys(body: Body) -> dict[str, tuple[str, SecretFacts]]:
    """namespace -> (Secret name, its data key names and opt-in); never the values."""
    meta = body.get("metadata", {})
    keys = set(body.get("data") or {}) | set(body.get("stringData") or {})
    return {meta["namespace"]: (meta["name"], SecretFacts(frozenset(keys), granted_providers(meta.get("annotations"))))}


def provider_service(body: Body) -> dict[tuple[str, str], str]:
    """(namespace, Service name) -> provider name, for Service-backed providers."""
    meta = body.get("metadata", {})
    ref = (body.get("spec") or {}).get("service")
    if not isinstance(ref, dict) or not ref.get("name"):
        return {}
    return {(meta["namespace"], str(ref["name"])): meta["name"]}


def service_ports(body: Body) -> dict[str, tuple[str, tuple[tuple[str, int], ...]]]:
    """namespace -> (Service name, its TCP ports as (name, number))."""
    meta = body.get("metadata", {})
    ports = tuple(
        (str(p.get("name") or ""), int(p["port"]))
        for p in (body.get("spec") or {}).get("ports") or []
        if isinstance(p, dict) and isinstance(p.get("port"), int) and (p.get("protocol") or "TCP") == "TCP"
    )
    return {meta["namespace"]: (meta["name"], ports)}


@dataclass(frozen=True)
class IndexView:
    """Read-only view over kopf's indices (each maps a key to a store of values)."""

    profiles: Mapping[Any, Iterable[Any]]
    dependencies: Mapping[Any, Iterable[Any]]
    providers: Mapping[Any, Iterable[Any]]
    provider_secrets: Mapping[Any, Iterable[Any]]
    secrets: Mapping[Any, Iterable[Any]]
    provider_services: Mapping[Any, Iterable[Any]] = field(default_factory=dict)
    services: Mapping[Any, Iterable[Any]] = field(default_factory=dict)
    client_keys: Mapping[Any, Iterable[Any]] = field(default_factory=dict)  # namespace -> ClientKeySecret
    claims: Mapping[Any, Iterable[Any]] = field(default_factory=dict)

    def profile(self, namespace: str, name: str) -> Body | None:
        return next(iter(self.profiles.get((namespace, name), ())), None)

    def providers_in(self, namespace: str) -> dict[str, Body]:
        return {p["metadata"]["name"]: p for p in self.providers.get(namespace, ())}

    def provider(self, namespace: str, name: str) -> Body | None:
        return self.providers_in(namespace).get(name)

    def secrets_in(self, namespace: str) -> dict[str, SecretFacts]:
        return dict(self.secrets.get(namespace, ()))

    def profiles_using(self, namespace: str, provider: str) -> list[str]:
        """Profiles naming the provider, plus every selector-based profile of the namespace."""
        names = {*self.dependencies.get((namespace, provider), ()), *self.dependencies.get((namespace, SELECTOR), ())}
        return sorted(names)

    def services_in(self, namespace: str) -> dict[str, tuple[tuple[str, int], ...]]:
        return dict(self.services.get(namespace, ()))

    def providers_using_service(self, namespace: str, service: str) -> list[str]:
        return sorted(set(self.provider_services.get((namespace, service), ())))

    def providers_using_secret(self, namespace: str, secret: str) -> list[str]:
        return sorted(set(self.provider_secrets.get((namespace, secret), ())))

    def claimants(self, models: Iterable[str]) -> tuple[Claimant, ...]:
        """Every profile claiming one of ``models``, in any namespace, by key."""
        found = {c.key: c for model in set(models) for c in self.claims.get(model, ())}
        return tuple(found[key] for key in sorted(found))

    def all_profiles(self) -> list[tuple[str, str]]:
        return sorted(self.profiles)

    def all_client_keys(self) -> list[ClientKeySecret]:
        return [secret for store in self.client_keys.values() for secret in store]

    def all_providers(self) -> list[tuple[str, str]]:
        return sorted((ns, p["metadata"]["name"]) for ns, store in self.providers.items() for p in store)

    def render_inputs(self, profile: Body, settings: RenderSettings) -> RenderInputs:
        namespace = profile["metadata"]["namespace"]
        secrets, services = self.secrets_in(namespace), self.services_in(namespace)
        rivals = self.claimants(claimant(profile).models)
        return RenderInputs(profile, self.providers_in(namespace), secrets, settings, services, rivals)


@dataclass
class SpecMemory:
    """What each object's spec looked like when last handled: (uid, generation, labels).

    Status writes (by the proxies every few seconds, and by the operator itself)
    change neither generation nor labels, so they trigger no handler work.
    """

    _seen: dict[tuple[str, ...], tuple[Any, ...]] = field(default_factory=dict)

    def changed(self, key: tuple[str, ...], body: Body) -> bool:
        """True (and remembered) when the object is new or its spec or labels changed."""
        meta = body.get("metadata", {})
        signature = (meta.get("uid"), meta.get("generation"), tuple(sorted((meta.get("labels") or {}).items())))
        if self._seen.get(key) == signature:
            return False
        self._seen[key] = signature
        return True

    def pop(self, key: tuple[str, ...], default: None = None) -> None:
        self._seen.pop(key, default)
