"""Resources that pass the CRD schema but mean nothing: a clear condition, and siblings unharmed.

tests/operator covers a missing provider, a missing Secret or key, a model no
provider serves and an empty selector (goldens, and end to end on a real API
server). This adds the semantic errors it does not: a model override the
provider does not have, a rule naming a provider outside the profile, several
problems at once, and a broken provider failing only the profiles that use it. The renderer is pure, so these stay fast.
"""

from typing import Any

import pytest

from switchboard.operator.render import Rendered, RenderFailure, RenderInputs, render
from switchboard.operator.verdicts import READY, RENDERED, RESOLVED_REFS

NAMESPACE = "team-h"


def provider(name: str, *models: str, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"type": "openai", "models": [{"name": m} for m in models], **spec},
    }


def profile(name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": NAMESPACE, "uid": f"uid-{name}"}, "spec": spec}


PROVIDERS = {p["metadata"]["name"]: p for p in (provider("a", "m"), provider("b", "m", "n"))}
VALID = profile("valid", models=["m"], providers=[{"name": "a"}, {"name": "b"}])

SEMANTIC_ERRORS = {
    "model_override_unknown": (
        profile("bad", models=["m"], providers=[{"name": "a", "model": "gpt-nope"}]),
        "ModelNotFound",
        "gpt-nope",
    ),
    "rule_names_unknown_provider": (
        profile(
            "bad",
            models=["m"],
            strategy="rules",
            providers=[{"name": "a"}],
            rules=[{"name": "r1", "priority": 1, "match": {"headers": {"x": "y"}}, "providers": ["ghost"]}],
        ),
        "UnknownRuleProvider",
        "ghost",
    ),
    "default_rule_names_unknown_provider": (
        profile(
            "bad",
            models=["m"],
            strategy="rules",
            providers=[{"name": "a"}],
            defaultRule={"name": "d", "providers": ["b"]},
        ),
        "UnknownRuleProvider",
        "b",
    ),
    "selector_matches_nothing": (
        profile("bad", models=["m"], providerSelector={"matchLabels": {"tier": "none"}}),
        "NoProviders",
        "matches no LLMProvider",
    ),
    "model_served_by_nobody": (
        profile("bad", models=["m", "zzz"], providers=[{"name": "a"}]),
        "ModelNotServed",
        "zzz",
    ),
}


@pytest.mark.parametrize("case", sorted(SEMANTIC_ERRORS))
def test_semantic_error_is_a_condition_naming_the_culprit(case: str) -> None:
    bad, reason, culprit = SEMANTIC_ERRORS[case]

    result = render(RenderInputs(bad, PROVIDERS, {}))

    assert isinstance(result, RenderFailure), result
    assert reason in [p.reason for p in result.problems]
    assert culprit in result.message
    verdicts = {v.type: v for v in result.verdicts.conditions}
    assert verdicts[READY].status == "False" and verdicts[RENDERED].status == "False"
    assert culprit in verdicts[READY].message and "last good ConfigMap" in verdicts[READY].message
    assert verdicts[RESOLVED_REFS].status == ("False" if reason == "NoProviders" else "True")


def test_every_problem_is_reported_at_once() -> None:
    """A user fixing one problem should not discover the next only after another round trip."""
    bad = profile(
        "bad",
        models=["m", "zzz"],
        strategy="rules",
        providers=[{"name": "a", "model": "gpt-nope"}, {"name": "missing"}],
        rules=[{"name": "r1", "priority": 1, "match": {"headers": {"x": "y"}}, "providers": ["ghost"]}],
    )
    result = render(RenderInputs(bad, PROVIDERS, {}))
    assert isinstance(result, RenderFailure)
    assert {"ModelNotFound", "ProviderNotFound", "UnknownRuleProvider"} <= {p.reason for p in result.problems}


def test_a_broken_provider_fails_only_the_profiles_that_use_it() -> None:
    broken = {**PROVIDERS, "c": provider("c", "m", baseUrl="not a url", weight=-3)}
    uses_c = profile("uses-c", models=["m"], providers=[{"name": "c"}])

    failed = render(RenderInputs(uses_c, broken, {}))
    fine = render(RenderInputs(VALID, broken, {}))

    assert isinstance(failed, RenderFailure) and "LLMProvider c" in failed.message
    assert isinstance(fine, Rendered) and fine.providers == ("a", "b")
