"""Removal of rendered ConfigMaps whose RoutingProfile is gone.

Rendered ConfigMaps live in the release namespace and owner references cannot
cross namespaces, so the garbage collector cannot do this: the operator deletes
a profile's ConfigMap when the profile's deletion is observed, and the periodic
resync sweeps up what was missed (profiles deleted while no operator ran).
A sweep deletes only after the API server itself (not the cache) says the
profile is gone, so a cold or partial cache never removes live config.
"""

import logging
from collections.abc import Collection

from kubernetes_asyncio import client

from switchboard.api.object_key import split_key
from switchboard.api.status import PROFILE_ANNOTATION
from switchboard.operator.index import IndexView
from switchboard.operator.kube import Kube
from switchboard.operator.names import config_map_name

logger = logging.getLogger(__name__)


def profile_of(annotations: dict[str, str]) -> tuple[str, str] | None:
    """(namespace, name) from a rendered ConfigMap's ``switchboard.dev/profile`` annotation."""
    namespace, name = split_key(annotations.get(PROFILE_ANNOTATION, ""))
    return (namespace, name) if namespace and name else None


async def delete_rendered(kube: Kube, namespace: str, profile: str) -> None:
    """The profile was deleted: its ConfigMap goes with it (the proxies drop it at once)."""
    name = config_map_name(namespace, profile)
    if await kube.delete_config_map(name):
        logger.info(
            "RoutingProfile %s/%s deleted: removed ConfigMap %s/%s", namespace, profile, kube.release_namespace, name
        )


async def sweep_orphans(kube: Kube, snap: IndexView, namespaces: Collection[str]) -> int:
    """Delete rendered ConfigMaps of deleted profiles in the watched ``namespaces`` (empty: all)."""
    removed = 0
    for name, annotations in await kube.rendered_config_maps():
        owner = profile_of(annotations)
        if owner is None or (namespaces and owner[0] not in namespaces) or snap.profile(*owner) is not None:
            continue
        try:
            if await kube.profile_exists(*owner):
                continue
            if await kube.delete_config_map(name):
                removed += 1
                logger.info(
                    "removed ConfigMap %s/%s: RoutingProfile %s/%s no longer exists",
                    kube.release_namespace,
                    name,
                    *owner,
                )
        except client.ApiException as e:
            logger.warning("could not remove orphaned ConfigMap %s: %s %s", name, e.status, e.reason)
    return removed
