"""Expiry of proxy replicas that are gone from ``status.replicas``.

Proxies prune each other's stale entries when they write; when every proxy is
gone, nobody does, and ``kubectl get`` would show a fleet that no longer exists.
The leader's resync drops entries older than the replica TTL (the pure rule is
``switchboard.api.aggregation.expire_stale``), with a resourceVersion-guarded
patch so a proxy that writes meanwhile wins.
"""

import logging
from datetime import UTC, datetime, timedelta

from kubernetes_asyncio import client

from switchboard.api.aggregation import expire_stale
from switchboard.operator.index import Body, IndexView
from switchboard.operator.kube import Kube

logger = logging.getLogger(__name__)


async def expire_replicas(kube: Kube, snap: IndexView, ttl: timedelta, now: datetime | None = None) -> int:
    """Patch every object whose (cached) status lists a replica older than ``ttl``; returns how many."""
    now = now or datetime.now(UTC)
    candidates: list[tuple[str, Body]] = [
        *(("routingprofiles", body) for key in snap.all_profiles() if (body := snap.profile(*key)) is not None),
        *(("llmproviders", body) for key in snap.all_providers() if (body := snap.provider(*key)) is not None),
    ]
    expired = 0
    for plural, body in candidates:
        if expire_stale(plural, body.get("status") or {}, now, ttl) is None:
            continue
        meta = body["metadata"]
        try:
            if await _expire_one(kube, plural, meta["namespace"], meta["name"], now, ttl):
                expired += 1
        except client.ApiException as e:
            if e.status not in (404, 409):  # gone, or a live proxy wrote first: both fine
                logger.warning(
                    "expiring replicas of %s %s/%s: %s %s", plural, meta["namespace"], meta["name"], e.status, e.reason
                )
    return expired


async def _expire_one(kube: Kube, plural: str, namespace: str, name: str, now: datetime, ttl: timedelta) -> bool:
    version, status = await kube.read_status(plural, namespace, name)
    patch = expire_stale(plural, status, now, ttl)
    if patch is None:
        return False
    await kube.patch_status(plural, namespace, name, patch, resource_version=version)
    gone = len(status.get("replicas") or []) - len(patch["replicas"])
    logger.info(
        "%s %s/%s: expired %d replica entr%s not updated for %s",
        plural,
        namespace,
        name,
        gone,
        "y" if gone == 1 else "ies",
        ttl,
    )
    return True
