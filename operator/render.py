"""The pure translator: one RoutingProfile (+ its namespace's LLMProviders and
which Secret keys exist, and the profiles claiming the same models) -> the
ConfigMap manifest the proxies load, or the list of problems that prevent it;
either way with its verdicts (conditions, Events, status fields: ``verdicts.py``).

No I/O and no clock: the same inputs always give byte-identical output, so the
content hash only changes when the config really does. API keys never pass
through here: the rendered providers point at the operator-managed credentials
Secret by ``credential_key(namespace, provider)``, and the caller learns which
source key to copy there from ``Rendered.credentials``.

The ConfigMap goes into the release namespace (``RenderSettings.config_namespace``),
where tenants cannot write, so a proxy never has to trust a tenant-written object
(docs/security.md). Owner references cannot cross namespaces: the operator deletes
the ConfigMap itself when the profile goes (``switchboard.dev/profile`` names it).
"""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from switchboard.api.config import ConfigError, Fleet, ProxyConfig, format_validation_error, parse_config
from switchboard.api.egress import EgressPolicy
from switchboard.api.endpoints import ServiceRef
from switchboard.api.object_key import object_key
from switchboard.api.profile import ProfileConfig, ProviderRef, RoutingProfileSpec
from switchboard.api.provider import (
    SECRET_GRANT_ANNOTATION,
    CredentialSource,
    LLMProviderSpec,
    ProviderConfig,
    SecretKeyRef,
    secret_grants,
)
from switchboard.api.status import (
    CONFIG_DATA_KEY,
    CONFIG_HASH_ANNOTATION,
    CREDENTIALS_SECRET,
    NAMESPACE_LABEL,
    PROFILE_ANNOTATION,
    PROFILE_LABEL,
    PROFILE_UID_ANNOTATION,
    RENDERED_LABEL,
    credential_key,
)
from switchboard.operator.conflicts import Claimant, accepted, claimant, conflicts
from switchboard.operator.names import config_map_name, label_value
from switchboard.operator.selectors import matches
from switchboard.operator.verdicts import (
    ACCEPTED,
    READY,
    RENDERED,
    RESOLVED_REFS,
    Notice,
    Problem,
    ProfileVerdicts,
    Verdict,
)

Resource = Mapping[str, Any]


@dataclass(frozen=True)
class RenderSettings:
    """Operator-wide knobs that shape every rendered config."""

    fleet_replicas: int = 1
    credentials_secret: str = CREDENTIALS_SECRET
    config_namespace: str = "switchboard-system"  # the release namespace: rendered ConfigMaps live there only
    egress: EgressPolicy = field(default_factory=EgressPolicy)  # where provider base URLs may point


ServicePorts = tuple[tuple[str, int], ...]
"""A Service's ports as (name, port number); the name is "" for a Service's single unnamed port."""


@dataclass(frozen=True)
class SecretFacts:
    """What the operator knows of a Secret: its data key names and its opt-in (never values)."""

    keys: frozenset[str]
    granted: frozenset[str] = frozenset()  # providers named by switchboard.dev/allowed-providers


@dataclass(frozen=True)
class RenderInputs:
    profile: Resource
    providers: Mapping[str, Resource]  # LLMProviders of the profile's namespace, by name
    secrets: Mapping[str, SecretFacts]  # Secret name -> facts, same namespace
    settings: RenderSettings = field(default_factory=RenderSettings)
    services: Mapping[str, ServicePorts] = field(default_factory=dict)  # Service name -> its ports, same namespace
    rivals: tuple[Claimant, ...] = ()  # profiles of any namespace claiming one of this profile's models


@dataclass(frozen=True)
class Rendered:
    config_map: dict[str, Any]
    config: ProxyConfig
    config_hash: str
    providers: tuple[str, ...]  # names of the providers the config uses, in order
    credentials: Mapping[str, SecretKeyRef]  # provider name -> its source Secret/key (same namespace)
    verdicts: ProfileVerdicts


@dataclass(frozen=True)
class RenderFailure:
    problems: tuple[Problem, ...]
    providers: tuple[str, ...]  # what the profile tried to use, so changes to them re-render it
    verdicts: ProfileVerdicts

    @property
    def reason(self) -> str:
        return self.problems[0].reason

    @property
    def message(self) -> str:
        return "; ".join(p.message for p in self.problems)


RenderResult = Rendered | RenderFailure


def render(inputs: RenderInputs) -> RenderResult:
    """Translate one RoutingProfile and judge it; never raises for bad input."""
    meta = inputs.profile.get("metadata", {})
    name, namespace = str(meta.get("name", "")), str(meta.get("namespace", ""))
    try:
        spec = RoutingProfileSpec.model_validate(inputs.profile.get("spec") or {})
    except ValidationError as e:
        return _failure(inputs, (Problem("InvalidSpec", f"spec: {format_validation_error(e)}"),), (), valid=False)
    refs = _resolve_refs(spec, inputs.providers)
    used = tuple(ref.name for ref in refs)
    problems: list[Problem] = []
    providers = _provider_configs(refs, namespace, inputs, problems)
    problems += _check_profile(spec, refs, providers)
    if problems:
        return _failure(inputs, tuple(problems), used)
    core = spec.model_dump(exclude={"providers", "provider_selector"})
    try:
        identity = {"name": name, "namespace": namespace, "creation_timestamp": meta.get("creationTimestamp")}
        profile = ProfileConfig.model_validate({**core, **identity, "providers": refs})
        config = parse_config(
            ProxyConfig(
                fleet=Fleet(replicas=inputs.settings.fleet_replicas),
                providers=tuple(providers[ref.name][0] for ref in refs),
                profiles=(profile,),
            ).to_wire()
        )
    except (ValidationError, ConfigError) as e:
        text = format_validation_error(e) if isinstance(e, ValidationError) else str(e)
        return _failure(inputs, (Problem("InvalidConfig", text),), used)
    credentials = {n: ref for n, (_, ref) in providers.items() if ref is not None}
    return _rendered(inputs, config, used, credentials)


def _resolve_refs(spec: RoutingProfileSpec, available: Mapping[str, Resource]) -> tuple[ProviderRef, ...]:
    """Explicit refs in their order, then selector matches (by name) not already listed."""
    refs = list(spec.providers)
    if spec.provider_selector is not None:
        listed = {ref.name for ref in refs}
        for name in sorted(available):
            labels = available[name].get("metadata", {}).get("labels") or {}
            if name not in listed and matches(spec.provider_selector, labels):
                refs.append(ProviderRef(name=name))
    return tuple(refs)


def _provider_configs(
    refs: tuple[ProviderRef, ...], namespace: str, inputs: RenderInputs, problems: list[Problem]
) -> dict[str, tuple[ProviderConfig, SecretKeyRef | None]]:
    out: dict[str, tuple[ProviderConfig, SecretKeyRef | None]] = {}
    for ref in refs:
        resource = inputs.providers.get(ref.name)
        if resource is None:
            problems.append(Problem("ProviderNotFound", f"LLMProvider {namespace}/{ref.name} does not exist"))
            continue
        try:
            spec = LLMProviderSpec.model_validate(resource.get("spec") or {})
        except ValidationError as e:
            problems.append(Problem("InvalidProvider", f"LLMProvider {ref.name}: {format_validation_error(e)}"))
            continue
        problem = check_egress(ref.name, namespace, spec, inputs.settings.egress)
        if problem is not None:
            problems.append(problem)
            continue
        source = spec.api_key_secret_ref
        if source is not None:
            problem = check_secret(ref.name, namespace, source, inputs.secrets)
            if problem is not None:
                problems.append(problem)
                continue
        port_name = None
        if spec.service is not None:
            port_name = resolve_service_port(ref.name, namespace, spec.service, inputs.services)
            if isinstance(port_name, Problem):
                problems.append(port_name)
                continue
        api_key = None
        if source is not None:
            key = credential_key(namespace, ref.name)
            api_key = CredentialSource(secret=SecretKeyRef(name=inputs.settings.credentials_secret, key=key))
        core = spec.model_dump(exclude={"api_key_secret_ref"})
        identity = {"name": ref.name, "namespace": namespace, "api_key": api_key, "service_port_name": port_name}
        config = ProviderConfig.model_validate({**core, **identity})
        out[ref.name] = (config, source)
    return out


def resolve_service_port(
    provider: str, namespace: str, ref: ServiceRef, services: Mapping[str, ServicePorts]
) -> str | Problem:
    """The name of the Service port ``ref.port`` means (EndpointSlices list ports by that name), or why not."""
    ports = services.get(ref.name)
    if ports is None:
        return Problem("ServiceNotFound", f"LLMProvider {provider}: Service {namespace}/{ref.name} does not exist")
    for name, number in ports:
        if ref.port in (name, number):
            return name
    return Problem(
        "ServicePortNotFound", f"LLMProvider {provider}: Service {namespace}/{ref.name} has no port {ref.port!r}"
    )


def check_egress(provider: str, namespace: str, spec: LLMProviderSpec, policy: EgressPolicy) -> Problem | None:
    """The base URL is one the cluster's egress policy lets this namespace's providers reach."""
    reason = policy.check_url(namespace, spec.effective_base_url)
    if reason is None:
        return None
    message = f"LLMProvider {provider}: baseUrl {spec.effective_base_url} is refused by the egress policy: {reason}"
    return Problem("EgressDenied", message)


def check_secret(
    provider: str, namespace: str, ref: SecretKeyRef, secrets: Mapping[str, SecretFacts]
) -> Problem | None:
    """The Secret exists, opted in for this provider, and has the key (checked in that order)."""
    facts = secrets.get(ref.name)
    if facts is None:
        return Problem("SecretNotFound", f"LLMProvider {provider}: Secret {namespace}/{ref.name} does not exist")
    if not secret_grants(facts.granted, provider):
        return Problem(
            "SecretNotAllowed",
            f"LLMProvider {provider}: Secret {namespace}/{ref.name} does not allow it; whoever may edit "
            f"the Secret adds the annotation {SECRET_GRANT_ANNOTATION}: {provider} (or *) to opt in",
        )
    if ref.key not in facts.keys:
        return Problem(
            "SecretKeyNotFound", f"LLMProvider {provider}: Secret {namespace}/{ref.name} has no key {ref.key!r}"
        )
    return None


def _check_profile(
    spec: RoutingProfileSpec,
    refs: tuple[ProviderRef, ...],
    providers: Mapping[str, tuple[ProviderConfig, SecretKeyRef | None]],
) -> list[Problem]:
    if not refs:
        return [Problem("NoProviders", "providerSelector matches no LLMProvider in the namespace")]
    problems = []
    for ref in refs:
        entry = providers.get(ref.name)
        if entry is not None and ref.model is not None and entry[0].model(ref.model) is None:
            problems.append(
                Problem("ModelNotFound", f"providers[{ref.name}].model: provider has no model {ref.model!r}")
            )
    if len(providers) == len(refs):
        served = {m.name for cfg, _ in providers.values() for m in cfg.models}
        if any(ref.model is not None for ref in refs):
            served |= set(spec.models)  # a ref with a model override serves every requested name
        missing = [m for m in spec.models if m not in served]
        if missing:
            problems.append(Problem("ModelNotServed", f"no provider serves model(s) {', '.join(missing)}"))
    names = {ref.name for ref in refs}
    for rule in (*spec.rules, *((spec.default_rule,) if spec.default_rule else ())):
        unknown = [p for p in rule.providers if p not in names]
        if unknown:
            problems.append(
                Problem(
                    "UnknownRuleProvider", f"rule {rule.name}: provider(s) {', '.join(unknown)} not in this profile"
                )
            )
    return problems


def _rendered(
    inputs: RenderInputs, config: ProxyConfig, used: tuple[str, ...], credentials: dict[str, SecretKeyRef]
) -> Rendered:
    meta, settings = inputs.profile["metadata"], inputs.settings
    data = yaml.safe_dump(config.to_wire(), sort_keys=True, default_flow_style=False, allow_unicode=True)
    digest = hashlib.sha256(data.encode()).hexdigest()
    manifest: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": config_map_name(meta["namespace"], meta["name"]),
            "namespace": settings.config_namespace,
            "labels": {
                RENDERED_LABEL: "true",
                NAMESPACE_LABEL: meta["namespace"],
                PROFILE_LABEL: label_value(meta["name"]),
                "app.kubernetes.io/managed-by": "switchboard-operator",
            },
            "annotations": {
                CONFIG_HASH_ANNOTATION: digest,
                PROFILE_ANNOTATION: object_key(meta["namespace"], meta["name"]),
                PROFILE_UID_ANNOTATION: str(meta.get("uid", "")),
            },
        },
        "data": {CONFIG_DATA_KEY: data},
    }
    cm = object_key(settings.config_namespace, manifest["metadata"]["name"])
    me = claimant(inputs.profile)
    found = conflicts(me, inputs.rivals, serving=True)
    accept, notices = accepted(me, found)
    verdicts = ProfileVerdicts(
        conditions=(
            Verdict(READY, "True", "Ready", f"ConfigMap {cm} is up to date"),
            Verdict(RESOLVED_REFS, "True", "Resolved", f"providers: {', '.join(used)}"),
            Verdict(RENDERED, "True", "Rendered", f"ConfigMap {cm} hash {digest[:12]}"),
            accept,
        ),
        events=notices,
        status={
            "observedGeneration": meta.get("generation"),
            "configHash": digest,
            "configMap": cm,
            "providerCount": len(used),
            "shadows": found.status(),
        },
    )
    return Rendered(manifest, config, digest, used, credentials, verdicts)


_REF_REASONS = frozenset(
    {
        "ProviderNotFound",
        "NoProviders",
        "SecretNotFound",
        "SecretNotAllowed",
        "SecretKeyNotFound",
        "ServiceNotFound",
        "ServicePortNotFound",
    }
)


def _failure(
    inputs: RenderInputs, problems: tuple[Problem, ...], used: tuple[str, ...], *, valid: bool = True
) -> RenderFailure:
    """Not Ready; the last good ConfigMap (if any) is kept, and with it the profile's claim on its models."""
    failed = RenderFailure(problems, used, ProfileVerdicts(()))
    ref_problems = [p for p in problems if p.reason in _REF_REASONS]
    refs = (
        Verdict(RESOLVED_REFS, "False", ref_problems[0].reason, "; ".join(p.message for p in ref_problems))
        if ref_problems
        else Verdict(RESOLVED_REFS, "True", "Resolved", "all providers and Secrets exist")
    )
    kept = "; the last good ConfigMap (if any) is kept"
    conditions = [
        Verdict(READY, "False", failed.reason, failed.message + kept),
        refs,
        Verdict(RENDERED, "False", failed.reason, failed.message),
    ]
    events = [Notice("Warning", failed.reason, failed.message)]
    status: dict[str, Any] = {"observedGeneration": inputs.profile.get("metadata", {}).get("generation")}
    if valid:
        me = claimant(inputs.profile)
        found = conflicts(me, inputs.rivals, serving=bool((inputs.profile.get("status") or {}).get("configHash")))
        accept, notices = accepted(me, found)
        conditions.append(accept)
        events += notices
        status["shadows"] = found.status()
    else:
        conditions.append(Verdict(ACCEPTED, "Unknown", "InvalidSpec", "the models it claims are unknown"))
    return RenderFailure(problems, used, ProfileVerdicts(tuple(conditions), tuple(events), status))
