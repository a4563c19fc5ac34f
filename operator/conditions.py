"""Status conditions, pure: what an LLMProvider's ``Ready``/``ResolvedRefs``/``Rendered``
conditions should say (a RoutingProfile's come with its render), merged with the
previous ones so ``lastTransitionTime`` only moves when a status really flips (what
``kubectl wait`` and humans rely on)."""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from switchboard.api.config import format_validation_error
from switchboard.api.egress import EgressPolicy
from switchboard.api.provider import LLMProviderSpec
from switchboard.operator.render import (
    SecretFacts,
    ServicePorts,
    check_egress,
    check_secret,
    resolve_service_port,
)
from switchboard.operator.verdicts import READY, RENDERED, RESOLVED_REFS, Problem, Verdict


def merge(
    previous: Sequence[Mapping[str, Any]], verdicts: Iterable[Verdict], generation: int | None, now: str
) -> list[dict[str, Any]]:
    """New condition list; a condition keeps its transition time unless its status changed."""
    before = {c.get("type"): c for c in previous}
    out = []
    for v in verdicts:
        old = before.get(v.type)
        since = old.get("lastTransitionTime") if old and old.get("status") == v.status else None
        condition: dict[str, Any] = {
            "type": v.type,
            "status": v.status,
            "reason": v.reason,
            "message": v.message,
            "lastTransitionTime": since or now,
        }
        if generation is not None:
            condition["observedGeneration"] = generation
        out.append(condition)
    return out


def provider_verdicts(
    resource: Mapping[str, Any],
    secrets: Mapping[str, SecretFacts],
    users: Sequence[str],
    egress: EgressPolicy | None = None,
    services: Mapping[str, ServicePorts] | None = None,
) -> list[Verdict]:
    """Conditions of an LLMProvider: its spec is valid, its Secret key and its Service (with the port) exist."""
    meta = resource.get("metadata", {})
    name, namespace = str(meta.get("name", "")), str(meta.get("namespace", ""))
    try:
        spec = LLMProviderSpec.model_validate(resource.get("spec") or {})
    except ValidationError as e:
        bad = Verdict(RENDERED, "False", "InvalidSpec", format_validation_error(e))
        return [
            Verdict(READY, "False", "InvalidSpec", bad.message),
            Verdict(RESOLVED_REFS, "Unknown", "InvalidSpec"),
            bad,
        ]
    problem = None
    if spec.api_key_secret_ref is not None:
        problem = check_secret(name, namespace, spec.api_key_secret_ref, secrets)
    if problem is None and spec.service is not None:
        port = resolve_service_port(name, namespace, spec.service, services or {})
        problem = port if isinstance(port, Problem) else None
    # a Service-backed provider has no baseUrl: its endpoints are the namespace's own pods
    denied = check_egress(name, namespace, spec, egress or EgressPolicy()) if spec.service is None else None
    resolved = "API key Secret found and opted in" if spec.api_key_secret_ref else "no API key"
    if spec.service is not None:
        resolved += f"; Service {spec.service.name} found"
    refs = (
        Verdict(RESOLVED_REFS, "False", problem.reason, problem.message)
        if problem
        else Verdict(RESOLVED_REFS, "True", "Resolved", resolved)
    )
    usage = f"used by RoutingProfile(s): {', '.join(users)}" if users else "not used by any RoutingProfile"
    rendered = Verdict(RENDERED, "True", "Valid", usage)
    blocker = denied or problem
    ready = (
        Verdict(READY, "False", blocker.reason, blocker.message) if blocker else Verdict(READY, "True", "Ready", usage)
    )
    return [ready, refs, rendered]
