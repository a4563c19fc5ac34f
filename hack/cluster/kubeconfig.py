"""Kubeconfig files: a pure renderer and a writer.

Credentials are referenced by file path (client certs) or embedded (tokens) and
files are written mode 0600: they are real credentials for the local cluster.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

CLUSTER_NAME = "switchboard-local"


def render_kubeconfig(server: str, ca_file: Path, user: str, credentials: dict[str, str]) -> dict[str, Any]:
    """A one-context kubeconfig for ``user`` against ``server``.

    ``credentials`` is the kubeconfig ``user`` stanza, e.g. ``{"token": ...}`` or
    ``{"client-certificate": ..., "client-key": ...}``.
    """
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CLUSTER_NAME, "cluster": {"server": server, "certificate-authority": str(ca_file)}}],
        "users": [{"name": user, "user": dict(credentials)}],
        "contexts": [{"name": user, "context": {"cluster": CLUSTER_NAME, "user": user}}],
        "current-context": user,
        "preferences": {},
    }


def write_kubeconfig(path: Path, config: dict[str, Any]) -> Path:
    """Write atomically with owner-only permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_suffix(".tmp")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
    os.replace(staged, path)
    return path
