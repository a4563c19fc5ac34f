"""Generate the CustomResourceDefinitions from the pydantic contracts.

The pydantic models are the single source of truth; this module turns their
JSON Schema (draft 2020-12) into a Kubernetes *structural* OpenAPI v3 schema:
``$ref`` inlined, titles dropped, ``X | None`` collapsed to ``X`` (optional means
"not required"), ``const`` turned into a one-value ``enum``, exclusive bounds
rewritten in the OpenAPI 3.0 boolean form, ``additionalProperties: false``
dropped (the API server prunes or refuses unknown fields itself) and only scalar
defaults kept. CEL rules and list-map markers come from the models'
``json_schema_extra``. Pure: ``python -m switchboard.operator.crdgen DIR`` writes.
"""

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from switchboard.api.base import API_GROUP, API_VERSION
from switchboard.api.profile import RoutingProfileSpec
from switchboard.api.provider import LLMProviderSpec
from switchboard.api.status import LLMProviderStatus, RoutingProfileStatus

Schema = dict[str, Any]

_DROPPED_KEYS = frozenset({"title", "$defs", "additionalProperties"})
_READY = '.status.conditions[?(@.type=="Ready")].status'
_ACCEPTED = '.status.conditions[?(@.type=="Accepted")].status'

CATEGORY = "switchboard"  # `kubectl get switchboard` lists both kinds


@dataclass(frozen=True)
class CrdKind:
    """Naming and printer columns of one custom resource kind."""

    kind: str
    description: str
    plural: str
    short_names: tuple[str, ...]
    spec: type[BaseModel]
    status: type[BaseModel]
    columns: tuple[dict[str, str], ...]


def _column(name: str, kind: str, path: str, priority: int = 0) -> dict[str, Any]:
    column: dict[str, Any] = {"name": name, "type": kind, "jsonPath": path}
    if priority:
        column["priority"] = priority
    return column


KINDS: tuple[CrdKind, ...] = (
    CrdKind(
        kind="LLMProvider",
        description="An upstream LLM API (OpenAI, Azure OpenAI, Anthropic, Gemini, OpenAI-compatible) and its models.",
        plural="llmproviders",
        short_names=("llmp",),
        spec=LLMProviderSpec,
        status=LLMProviderStatus,
        columns=(
            _column("Type", "string", ".spec.type"),
            _column("Circuit", "string", ".status.summary.circuit"),
            _column("Endpoints", "string", ".status.summary.endpoints"),
            _column("P50", "number", ".status.summary.p50Ms"),
            _column("Error-Rate", "number", ".status.summary.errorRate"),
            _column("Ready", "string", _READY),
            _column("Age", "date", ".metadata.creationTimestamp"),
        ),
    ),
    CrdKind(
        kind="RoutingProfile",
        description="Which providers serve which public model names, and the strategy that chooses among them.",
        plural="routingprofiles",
        short_names=("rp",),
        spec=RoutingProfileSpec,
        status=RoutingProfileStatus,
        columns=(
            _column("Strategy", "string", ".spec.strategy"),
            _column("Providers", "integer", ".status.providerCount"),
            _column("Ready", "string", _READY),
            _column("Accepted", "string", _ACCEPTED),
            _column("In-Sync", "integer", ".status.inSyncReplicas"),
            _column("Spend", "string", ".status.budget.spend"),
            _column("Age", "date", ".metadata.creationTimestamp"),
        ),
    ),
)


def structural_schema(model: type[BaseModel]) -> Schema:
    """The model's wire schema as a Kubernetes structural schema."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _convert(raw, raw.get("$defs", {}))


def _convert(node: Schema, defs: Schema) -> Schema:
    node = _inline(node, defs)
    out: Schema = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS:
            continue
        if key == "properties":
            out[key] = {name: _convert(sub, defs) for name, sub in value.items()}
        elif key == "items":
            out[key] = _convert(value, defs)
        elif key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        elif key == "default":
            if value is not None and not isinstance(value, dict | list):
                out[key] = value
        else:
            out[key] = value
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = _convert(node["additionalProperties"], defs)
    return out


def _inline(node: Schema, defs: Schema) -> Schema:
    """Resolve ``$ref`` and collapse ``anyOf: [X, null]``; field-level keys win."""
    node = dict(node)
    variants = node.pop("anyOf", None)
    if variants is not None:
        non_null = [v for v in variants if v.get("type") != "null"]
        if sorted(v.get("type", "") for v in non_null) == ["integer", "string"]:
            return {**{k: v for k, v in node.items() if k != "$ref"}, "x-kubernetes-int-or-string": True}
        if len(non_null) != 1:
            raise ValueError(f"cannot express union {variants!r} in a structural schema")
        node = {**_inline(non_null[0], defs), **node}
    ref = node.pop("$ref", None)
    if ref is not None:
        target = defs[ref.removeprefix("#/$defs/")]
        node = {**_inline(target, defs), **node}
    return node


def crd(kind: CrdKind) -> Schema:
    """One CustomResourceDefinition manifest."""
    schema: Schema = {
        "type": "object",
        "description": kind.description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": structural_schema(kind.spec),
            "status": structural_schema(kind.status),
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{kind.plural}.{API_GROUP}"},
        "spec": {
            "group": API_GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.kind.lower(),
                "shortNames": list(kind.short_names),
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": API_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": list(kind.columns),
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


HEADER = "# GENERATED by `make crds` (switchboard/operator/crdgen.py) from the pydantic models. Do not edit.\n"


def render_crds() -> dict[str, str]:
    """File name -> YAML text of every CRD, deterministic."""
    return {f"{kind.plural}.yaml": HEADER + yaml.safe_dump(crd(kind), sort_keys=False, width=1000) for kind in KINDS}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0] if args else "deploy/crds")
    target.mkdir(parents=True, exist_ok=True)
    for name, text in render_crds().items():
        (target / name).write_text(text)
        print(f"wrote {target / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
