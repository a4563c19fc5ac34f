"""A provider's circuit in status: the generated CRD, the reference and docs/routing.md state the code's rule.

The statement is read from the generated files (not from the model), and its meaning, written out
here once as ``documented``, is checked against both aggregations the code does: a replica's
provider circuit over its models' breakers, and ``status.summary`` over the live replicas.
"""

import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, get_args

import yaml

from switchboard.api.aggregation import summarize
from switchboard.api.status import CircuitState, ReplicaProviderHealth, worst_circuit

ROOT = Path(__file__).resolve().parents[2]
STATEMENT = "open if any is open, else half-open if any is half-open, else closed"
STATES: tuple[CircuitState, ...] = get_args(CircuitState)


def documented(states: Sequence[CircuitState]) -> CircuitState:
    """What ``STATEMENT`` says, word for word."""
    if "open" in states:
        return "open"
    if "half-open" in states:
        return "half-open"
    return "closed"


def _circuit_descriptions(schema: Any) -> Iterator[str]:
    """Every ``circuit`` property's description in an OpenAPI schema tree."""
    if isinstance(schema, dict):
        circuit = (schema.get("properties") or {}).get("circuit")
        if isinstance(circuit, dict):
            yield str(circuit.get("description", ""))
        for value in schema.values():
            yield from _circuit_descriptions(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _circuit_descriptions(value)


def test_the_generated_crds_and_reference_state_the_rule() -> None:
    for path in ("deploy/crds/llmproviders.yaml", "deploy/helm/switchboard/crds/llmproviders.yaml"):
        crd = yaml.safe_load((ROOT / path).read_text())
        descriptions = list(_circuit_descriptions(crd))
        assert len(descriptions) == 2, path  # status.summary and status.replicas[]
        assert all(STATEMENT in d and "most severe" in d for d in descriptions), (path, descriptions)
    reference = (ROOT / "docs/reference/llmprovider.md").read_text()
    rows = [line for line in reference.splitlines() if line.startswith("| `circuit` |")]
    assert len(rows) == 2 and all(STATEMENT in row for row in rows), rows


def test_routing_docs_state_the_same_rule() -> None:
    text = " ".join((ROOT / "docs/routing.md").read_text().split())
    assert f"most severe of its models' circuits: {STATEMENT}" in text
    for page in (ROOT / "docs").rglob("*.md"):
        assert "every model's circuit is open" not in page.read_text(), page  # the old, wrong statement


def test_the_code_does_what_the_statement_says() -> None:
    for size in range(4):
        for states in itertools.product(STATES, repeat=size):
            assert worst_circuit(states) == documented(states), states  # a replica: over its models
            if states:
                entries = [
                    ReplicaProviderHealth(circuit=s, replica=f"r{i}", updated_at="2026-01-01T00:00:00Z")
                    for i, s in enumerate(states)
                ]
                summary = summarize(entries)
                assert summary is not None and summary.circuit == documented(states), states  # over replicas
