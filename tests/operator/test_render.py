"""Golden tests of the pure renderer, plus properties every rendered config must have.

Each expected file shows the rendered ConfigMap (or the problems) next to the profile's
status and Events the render implies, as Envoy Gateway's goldens do. Regenerate them
after an intended change with ``make golden`` (``UPDATE_GOLDEN=1``) and review the diff.
One case per operator bug fixed keeps it fixed.
"""

from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from switchboard.api.config import load_config
from switchboard.api.egress import EgressPolicy
from switchboard.api.status import CONFIG_DATA_KEY, CONFIG_HASH_ANNOTATION, CREDENTIALS_SECRET, NAMESPACE_LABEL
from switchboard.operator.conflicts import claimant
from switchboard.operator.render import Rendered, RenderFailure, RenderInputs, RenderSettings, SecretFacts, render
from switchboard.proxy.kube.rendered import RenderedConfig, Trust, parse_rendered
from tests.golden import check_text

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.name.removesuffix(".input.yaml") for p in GOLDEN.glob("*.input.yaml"))
SUCCESS_CASES = [c for c in CASES if not c.startswith("error-")]


def load_inputs(case: str) -> RenderInputs:
    raw = yaml.safe_load((GOLDEN / f"{case}.input.yaml").read_text())
    return RenderInputs(
        profile=raw["profile"],
        providers={p["metadata"]["name"]: p for p in raw["providers"]},
        secrets={
            name: SecretFacts(frozenset(facts["keys"]), frozenset(facts.get("allowedProviders") or ()))
            for name, facts in (raw.get("secrets") or {}).items()
        },
        settings=RenderSettings(
            fleet_replicas=raw.get("settings", {}).get("fleetReplicas", 1),
            # the cases' mock upstreams are on loopback: allowed explicitly, as the local demo does
            egress=EgressPolicy.model_validate(raw.get("settings", {}).get("egress", {"allowLoopback": True})),
        ),
        services={
            name: tuple((p.get("name", ""), p["port"]) for p in ports)
            for name, ports in raw.get("services", {}).items()
        },
        rivals=tuple(claimant(body) for body in raw.get("rivals") or ()),  # other profiles serving its models
    )


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (the rendered config.yaml) as readable literal blocks."""


def _str(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


_BlockDumper.add_representer(str, _str)


def summarize(result: Rendered | RenderFailure) -> dict[str, Any]:
    verdicts = result.verdicts
    status = {**verdicts.status, "conditions": [asdict(v) for v in verdicts.conditions]}
    judged = {"status": status, "events": [asdict(e) for e in verdicts.events]}
    if isinstance(result, RenderFailure):
        problems = [{"reason": p.reason, "message": p.message} for p in result.problems]
        return {"failure": {"problems": problems, "providers": list(result.providers)}, **judged}
    credentials = {k: {"name": v.name, "key": v.key} for k, v in result.credentials.items()}
    return {"configMap": result.config_map, "credentials": credentials, "providers": list(result.providers), **judged}


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str) -> None:
    actual = yaml.dump(summarize(render(load_inputs(case))), Dumper=_BlockDumper, sort_keys=True, width=1000)
    check_text(actual, GOLDEN / f"{case}.expected.yaml")


def test_error_cases_fail_and_the_others_render() -> None:
    for case in CASES:
        assert isinstance(render(load_inputs(case)), Rendered) == (case in SUCCESS_CASES), case


@pytest.mark.parametrize("case", SUCCESS_CASES)
def test_rendered_config_loads_and_carries_no_key(case: str) -> None:
    result = render(load_inputs(case))
    assert isinstance(result, Rendered)
    text = result.config_map["data"][CONFIG_DATA_KEY]
    config = load_config(text)
    assert config == result.config
    tenant = result.config_map["metadata"]["labels"][NAMESPACE_LABEL]
    assert [p.key for p in config.profiles] == [f"{tenant}/{config.profiles[0].name}"]
    # What the operator writes passes the proxies' trust check (release namespace, own keys only).
    settings = load_inputs(case).settings
    trusted = parse_rendered(result.config_map, Trust(settings.config_namespace, egress=settings.egress))
    assert isinstance(trusted, RenderedConfig), trusted
    for provider in config.providers:
        if provider.api_key is not None:
            assert provider.api_key.secret is not None
            assert provider.api_key.secret.name == CREDENTIALS_SECRET
            assert provider.api_key.secret.key == f"{provider.namespace}.{provider.name}"


def test_render_is_deterministic_and_hash_tracks_content() -> None:
    inputs = load_inputs("failover-explicit")
    first, second = render(inputs), render(inputs)
    assert isinstance(first, Rendered) and isinstance(second, Rendered)
    assert first.config_map == second.config_map
    assert first.config_map["metadata"]["annotations"][CONFIG_HASH_ANNOTATION] == first.config_hash
    changed = dict(inputs.providers)
    spec = {**changed["local-vllm"]["spec"], "weight": 7}
    changed["local-vllm"] = {**changed["local-vllm"], "spec": spec}
    third = render(RenderInputs(inputs.profile, changed, inputs.secrets, inputs.settings))
    assert isinstance(third, Rendered)
    assert third.config_hash != first.config_hash


def test_invalid_specs_are_reported_not_raised() -> None:
    inputs = load_inputs("failover-explicit")
    bad_profile = {**inputs.profile, "spec": {"models": [], "providers": [{"name": "openai-main"}]}}
    result = render(RenderInputs(bad_profile, inputs.providers, inputs.secrets, inputs.settings))
    assert isinstance(result, RenderFailure) and result.reason == "InvalidSpec"
    assert "models" in result.message
    broken = {**inputs.providers, "local-vllm": {"metadata": {"name": "local-vllm"}, "spec": {"type": "azure-openai"}}}
    result = render(RenderInputs(inputs.profile, broken, inputs.secrets, inputs.settings))
    assert isinstance(result, RenderFailure) and result.reason == "InvalidProvider"
    assert "local-vllm" in result.message
