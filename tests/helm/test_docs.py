"""Every value is documented in the schema, docs/values.md is current, and the chart's CRDs are the generated ones."""

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from tests.fixtures.helm import CHART, REPO


def _values_doc() -> ModuleType:
    spec = importlib.util.spec_from_file_location("values_doc", REPO / "deploy" / "helm" / "values_doc.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def value_paths(values: Any, prefix: str = "") -> Iterator[str]:
    """Dotted paths of every leaf in values.yaml (empty maps and lists count as leaves)."""
    if isinstance(values, dict) and values:
        for key, sub in values.items():
            yield from value_paths(sub, f"{prefix}{key}.")
    else:
        yield prefix.rstrip(".")


def test_every_value_has_a_schema_description() -> None:
    doc = _values_doc()
    schema = json.loads((CHART / "values.schema.json").read_text())
    documented = {path: sub for path, sub in doc.schema_leaves(schema)}
    assert all(sub.get("description") for sub in documented.values()), "a schema entry lacks a description"
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    undocumented = [
        path
        for path in value_paths(values)
        if not any(path == d or path.startswith(f"{d}.") for d in documented)  # free-form objects cover their keys
    ]
    assert undocumented == []


def test_values_page_is_generated_from_the_schema() -> None:
    page = (REPO / "docs" / "values.md").read_text()
    assert page == _values_doc().render(CHART), "docs/values.md is stale: run `make helm-docs`"


def test_chart_crds_are_byte_identical_to_the_generated_ones() -> None:
    generated = {p.name: p.read_bytes() for p in (REPO / "deploy" / "crds").glob("*.yaml")}
    shipped = {p.name: p.read_bytes() for p in (CHART / "crds").glob("*.yaml")}
    assert set(generated) == {"llmproviders.yaml", "routingprofiles.yaml"}
    assert shipped == generated, "chart CRDs differ from deploy/crds: run `make chart-crds`"


def test_docs_mention_every_make_target_they_rely_on() -> None:
    makefile = (REPO / "Makefile").read_text()
    for target in ("chart-crds", "helm-lint", "helm-docs", "kind-up", "e2e-kind", "images"):
        assert f"\n{target}:" in makefile
    kind_doc = Path(REPO / "docs" / "kind.md").read_text()
    assert "make kind-up" in kind_doc and "make e2e-kind" in kind_doc
