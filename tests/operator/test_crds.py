"""The committed CRDs are exactly what the generator makes from the pydantic models,
and the generated schemas are structural (what the API server demands)."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from switchboard.operator.crdgen import KINDS, render_crds

CRD_DIR = Path(__file__).resolve().parents[2] / "deploy" / "crds"


@pytest.mark.parametrize("name", sorted(render_crds()))
def test_committed_crd_matches_generator(name: str) -> None:
    committed = CRD_DIR / name
    assert committed.exists(), f"{committed} missing: run `make crds`"
    assert committed.read_text() == render_crds()[name], f"{name} is stale: run `make crds` and commit"


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = [(path, node)]
    for name, sub in node.get("properties", {}).items():
        out += _walk(sub, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            out += _walk(node[key], f"{path}[{key}]")
    return out


@pytest.mark.parametrize("text", render_crds().values(), ids=sorted(render_crds()))
def test_schema_is_structural(text: str) -> None:
    crd = yaml.safe_load(text)
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _walk(schema):
        # an int-or-string node is the one kind of node the API server wants without a type
        assert "type" in node or node.get("x-kubernetes-int-or-string") is True, f"{path}: every node needs a type"
        assert not {"$ref", "anyOf", "allOf", "oneOf", "title", "const"} & node.keys(), path
        assert "default" not in node or not isinstance(node["default"], dict | list), path
        if "properties" in node:
            assert "additionalProperties" not in node, path


def test_names_and_columns() -> None:
    crds = {k.kind: yaml.safe_load(render_crds()[f"{k.plural}.yaml"]) for k in KINDS}
    provider = crds["LLMProvider"]["spec"]
    assert provider["names"]["shortNames"] == ["llmp"] and provider["names"]["categories"] == ["switchboard"]
    columns = [c["name"].upper() for c in provider["versions"][0]["additionalPrinterColumns"]]
    assert columns == ["TYPE", "CIRCUIT", "ENDPOINTS", "P50", "ERROR-RATE", "READY", "AGE"]
    profile = crds["RoutingProfile"]["spec"]
    assert profile["names"]["shortNames"] == ["rp"]
    columns = [c["name"].upper() for c in profile["versions"][0]["additionalPrinterColumns"]]
    assert columns == ["STRATEGY", "PROVIDERS", "READY", "ACCEPTED", "IN-SYNC", "SPEND", "AGE"]
    spec = profile["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    messages = [v["message"] for v in spec["x-kubernetes-validations"]]
    assert messages == ["strategy rules needs rules or defaultRule", "set providers or providerSelector"]
