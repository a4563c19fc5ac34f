"""Grant the chart's namespaced RBAC in another release namespace (for isolated test systems).

The cluster bootstrap binds the operator and proxy ServiceAccounts to Roles in
``switchboard-system`` (credentials Secret, leader Lease, Events). A second
system on the same cluster needs its own Secret and Lease, so the same Roles
and RoleBindings are copied into its release namespace, subjects unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from hack.cluster import KubeCluster
from switchboard.api.status import CREDENTIALS_SECRET

_KEPT_METADATA = ("name", "labels")


def copy_roles(items: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    """Pure: Role/RoleBinding objects re-homed into ``namespace`` (server fields dropped)."""
    copies = []
    for item in items:
        metadata = {k: v for k, v in item["metadata"].items() if k in _KEPT_METADATA}
        body = {k: v for k, v in item.items() if k not in ("metadata", "status")}
        copies.append({**body, "metadata": {**metadata, "namespace": namespace}})
    return copies


def grant_release_namespace(cluster: KubeCluster, namespace: str) -> None:
    """Create ``namespace`` with the chart's Roles and RoleBindings (idempotent)."""
    if namespace == cluster.namespace:
        return
    manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    listed = json.loads(cluster.kubectl("get", "roles,rolebindings", "-n", cluster.namespace, "-o", "json").stdout)
    copies = {"apiVersion": "v1", "kind": "List", "items": copy_roles(listed["items"], namespace)}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(copies))
    # The chart creates the (empty) credentials Secret: the operator may update it, never create it.
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": CREDENTIALS_SECRET, "namespace": namespace}}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(secret))
