"""The example resources and the mock upstreams they need (pure: documents in, documents out).

``examples/cluster/`` points every LLMProvider at a loopback port. The system
starts one mock upstream per port, expecting the API key the provider's Secret
holds (so a wrong or missing key shows up as a failure), and may move a mock to
another port: ``retarget`` rewrites the providers' ``baseUrl`` to match.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from hack.checkout import REPO_ROOT

EXAMPLES_DIR = REPO_ROOT / "examples" / "cluster"
Document = dict[str, Any]


@dataclass(frozen=True)
class MockUpstream:
    """One mock upstream: the example port it serves and the key it expects (None: any)."""

    port: int
    providers: tuple[str, ...]
    api_key: str | None


def load_examples(directory: Path = EXAMPLES_DIR) -> list[Document]:
    """Every document of ``directory/*.yaml``, in file order."""
    docs: list[Document] = []
    for path in sorted(directory.glob("*.yaml")):
        docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


def _providers(docs: Iterable[Document]) -> list[Document]:
    return [d for d in docs if d.get("kind") == "LLMProvider"]


def _secret_value(docs: Sequence[Document], ref: Mapping[str, Any] | None) -> str | None:
    if not ref:
        return None
    for doc in docs:
        if doc.get("kind") == "Secret" and doc["metadata"]["name"] == ref.get("name"):
            value = (doc.get("stringData") or {}).get(ref.get("key"))
            return str(value) if value is not None else None
    return None


def _loopback_port(base_url: str) -> int | None:
    url = urlsplit(base_url)
    return url.port if url.hostname == "127.0.0.1" else None


def mock_upstreams(docs: Sequence[Document]) -> list[MockUpstream]:
    """One mock per loopback port the providers use; conflicting keys on one port are an error."""
    by_port: dict[int, tuple[list[str], str | None]] = {}
    for provider in _providers(docs):
        spec = provider["spec"]
        port = _loopback_port(str(spec.get("baseUrl", "")))
        if port is None:
            continue
        key = _secret_value(docs, spec.get("apiKeySecretRef"))
        names, known = by_port.setdefault(port, ([], key))
        if known != key:
            raise ValueError(f"providers on port {port} expect different API keys; give each its own port")
        names.append(provider["metadata"]["name"])
    return [MockUpstream(port, tuple(names), key) for port, (names, key) in sorted(by_port.items())]


def retarget(docs: Sequence[Document], ports: Mapping[int, int]) -> list[Document]:
    """Copies of ``docs`` with each provider's loopback port replaced through ``ports``."""
    moved = copy.deepcopy(list(docs))
    for provider in _providers(moved):
        spec = provider["spec"]
        base_url = str(spec.get("baseUrl", ""))
        port = _loopback_port(base_url)
        if port is not None and port in ports:
            url = urlsplit(base_url)
            spec["baseUrl"] = urlunsplit(url._replace(netloc=f"127.0.0.1:{ports[port]}"))
    return moved


def provider_ports(docs: Sequence[Document]) -> dict[str, int]:
    """Provider name -> the loopback port of its upstream."""
    result: dict[str, int] = {}
    for provider in _providers(docs):
        port = _loopback_port(str(provider["spec"].get("baseUrl", "")))
        if port is not None:
            result[provider["metadata"]["name"]] = port
    return result


def dump(docs: Sequence[Document]) -> str:
    return yaml.safe_dump_all(list(docs), sort_keys=False)
