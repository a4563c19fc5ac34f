"""pydantic and the API server (with the generated CRDs) agree on good and bad resources.

Each case is validated by the pydantic spec model and sent to the real API server
with ``kubectl apply --dry-run=server``; both must accept or both refuse, and a
refusal from the server must carry a message that says what to fix.
"""

import json
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from switchboard.api.profile import RoutingProfileSpec
from switchboard.api.provider import LLMProviderSpec

MODELS = [{"name": "m"}]
OPENAI = {"type": "openai", "models": MODELS}
PROFILE = {"models": ["m"], "providers": [{"name": "p"}]}
SERVICE = {"name": "vllm", "port": "http"}

# (id, kind, spec, None if valid else a fragment the server's message must contain)
CASES: list[tuple[str, str, dict[str, Any], str | None]] = [
    ("provider-minimal", "LLMProvider", OPENAI, None),
    (
        "provider-azure-full",
        "LLMProvider",
        {**OPENAI, "type": "azure-openai", "baseUrl": "https://x", "apiVersion": "v"},
        None,
    ),
    (
        "provider-azure-no-baseurl",
        "LLMProvider",
        {**OPENAI, "type": "azure-openai", "apiVersion": "v"},
        "baseUrl is required",
    ),
    (
        "provider-azure-no-apiversion",
        "LLMProvider",
        {**OPENAI, "type": "azure-openai", "baseUrl": "https://x"},
        "apiVersion is required",
    ),
    (
        "provider-azure-empty-apiversion",
        "LLMProvider",
        {**OPENAI, "type": "azure-openai", "baseUrl": "https://x", "apiVersion": ""},
        "apiVersion is required",
    ),
    ("provider-compatible-no-baseurl", "LLMProvider", {**OPENAI, "type": "openai-compatible"}, "baseUrl is required"),
    ("provider-service-by-name", "LLMProvider", {**OPENAI, "type": "openai-compatible", "service": SERVICE}, None),
    (
        "provider-service-by-number",
        "LLMProvider",
        {**OPENAI, "type": "openai-compatible", "service": {"name": "vllm", "port": 8000}},
        None,
    ),
    (
        "provider-baseurl-and-service",
        "LLMProvider",
        {**OPENAI, "type": "openai-compatible", "baseUrl": "http://x", "service": SERVICE},
        "exactly one of baseUrl or service",
    ),
    (
        "provider-service-port-out-of-range",
        "LLMProvider",
        {**OPENAI, "service": {"name": "vllm", "port": 70000}},
        "port must be a number 1-65535",
    ),
    (
        "provider-service-bad-port-name",
        "LLMProvider",
        {**OPENAI, "service": {"name": "vllm", "port": "Not_A_Name"}},
        "port must be a number 1-65535",
    ),
    (
        "provider-bad-picking-policy",
        "LLMProvider",
        {**OPENAI, "service": SERVICE, "endpointPicking": {"policy": "fastest"}},
        "spec.endpointPicking.policy",
    ),
    (
        "provider-duplicate-models",
        "LLMProvider",
        {**OPENAI, "models": [{"name": "m"}, {"name": "m"}]},
        "Duplicate value",
    ),
    ("provider-no-models", "LLMProvider", {**OPENAI, "models": []}, "spec.models"),
    ("provider-bad-type", "LLMProvider", {**OPENAI, "type": "cohere"}, "spec.type"),
    ("provider-bad-url", "LLMProvider", {**OPENAI, "baseUrl": "ftp://x"}, "spec.baseUrl"),
    ("provider-weight-too-big", "LLMProvider", {**OPENAI, "weight": 1001}, "spec.weight"),
    ("provider-rating-out-of-range", "LLMProvider", {**OPENAI, "ratings": {"speed": 11}}, "spec.ratings.speed"),
    (
        "provider-zero-threshold",
        "LLMProvider",
        {**OPENAI, "circuitBreaker": {"failureRateThreshold": 0}},
        "failureRateThreshold",
    ),
    ("provider-unknown-field", "LLMProvider", {**OPENAI, "colour": "red"}, "unknown field"),
    ("provider-secret-ref", "LLMProvider", {**OPENAI, "apiKeySecretRef": {"name": "s", "key": "k"}}, None),
    ("provider-secret-ref-no-key", "LLMProvider", {**OPENAI, "apiKeySecretRef": {"name": "s"}}, "key"),
    (
        "provider-secret-ref-dotted",
        "LLMProvider",
        {**OPENAI, "apiKeySecretRef": {"name": "team.keys-1", "key": "api_key.v2"}},
        None,
    ),
    (
        "provider-secret-ref-path",
        "LLMProvider",
        {**OPENAI, "apiKeySecretRef": {"name": "../../kube-system/x", "key": "k"}},
        "apiKeySecretRef.name",
    ),
    (
        "provider-secret-ref-uppercase",
        "LLMProvider",
        {**OPENAI, "apiKeySecretRef": {"name": "Keys", "key": "k"}},
        "apiKeySecretRef.name",
    ),
    (
        "provider-secret-key-slash",
        "LLMProvider",
        {**OPENAI, "apiKeySecretRef": {"name": "s", "key": "a/b"}},
        "apiKeySecretRef.key",
    ),
    ("profile-minimal", "RoutingProfile", PROFILE, None),
    (
        "profile-selector-only",
        "RoutingProfile",
        {"models": ["m"], "providerSelector": {"matchLabels": {"a": "b"}}},
        None,
    ),
    ("profile-no-providers", "RoutingProfile", {"models": ["m"]}, "set providers or providerSelector"),
    (
        "profile-empty-providers",
        "RoutingProfile",
        {"models": ["m"], "providers": []},
        "set providers or providerSelector",
    ),
    ("profile-rules-without-rules", "RoutingProfile", {**PROFILE, "strategy": "rules"}, "strategy rules needs rules"),
    (
        "profile-rules-default-only",
        "RoutingProfile",
        {**PROFILE, "strategy": "rules", "defaultRule": {"name": "d"}},
        None,
    ),
    (
        "profile-rule-selects-rules",
        "RoutingProfile",
        {**PROFILE, "rules": [{"name": "r", "strategy": "rules"}]},
        "a rule cannot select the rules strategy",
    ),
    (
        "profile-duplicate-rules",
        "RoutingProfile",
        {**PROFILE, "rules": [{"name": "r"}, {"name": "r"}]},
        "Duplicate value",
    ),
    ("profile-bad-strategy", "RoutingProfile", {**PROFILE, "strategy": "fastest"}, "spec.strategy"),
    ("profile-topn-zero", "RoutingProfile", {**PROFILE, "topN": 0}, "spec.topN"),
    (
        "profile-bad-selector-op",
        "RoutingProfile",
        {"models": ["m"], "providerSelector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}},
        "operator",
    ),
    ("profile-no-models", "RoutingProfile", {"providers": [{"name": "p"}]}, "spec.models"),
]

SPEC_MODELS: dict[str, type[BaseModel]] = {"LLMProvider": LLMProviderSpec, "RoutingProfile": RoutingProfileSpec}


def pydantic_accepts(kind: str, spec: dict[str, Any]) -> bool:
    try:
        SPEC_MODELS[kind].model_validate(spec)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(("case", "kind", "spec", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_pydantic_verdict_matches_the_table(case: str, kind: str, spec: dict[str, Any], fragment: str | None) -> None:
    assert pydantic_accepts(kind, spec) is (fragment is None)


@pytest.mark.k8s
def test_api_server_agrees_with_pydantic(switchboard_crds: Any, kube_namespace: str) -> None:
    disagreements = []
    for case, kind, spec, fragment in CASES:
        manifest = {"apiVersion": "switchboard.dev/v1alpha1", "kind": kind, "metadata": {"name": case}, "spec": spec}
        done = switchboard_crds.kubectl(
            "apply", "--dry-run=server", "-n", kube_namespace, "-f", "-", input=json.dumps(manifest), check=False
        )
        accepted = done.returncode == 0
        if accepted != pydantic_accepts(kind, spec):
            disagreements.append(f"{case}: server accepted={accepted}: {done.stderr.strip()}")
        elif fragment is not None and fragment not in done.stderr:
            disagreements.append(f"{case}: message lacks {fragment!r}: {done.stderr.strip()}")
    assert not disagreements, "\n".join(disagreements)
