"""kopf wiring, and nothing else: login, indices, event handlers and the resync task.

Handlers are registered on a fresh ``OperatorRegistry`` (no module-level
registry); shared state travels as kopf's ``memo`` (a ``reconcile.Context``).
Every reaction goes through an index lookup, never a scan:
Secret -> providers using it -> profiles using those; provider -> profiles.
"""

import asyncio
from typing import Any, TypedDict

import kopf

from switchboard.api.base import API_GROUP, API_VERSION
from switchboard.operator import index
from switchboard.operator.clientkeys import client_key_entry, reconcile_client_keys
from switchboard.operator.reconcile import (
    Context,
    forget_profile,
    reconcile_profile,
    reconcile_provider,
    resync_forever,
    rivals_to_revisit,
)


class ResourceKw(TypedDict):
    group: str
    version: str
    plural: str


PROFILES = ResourceKw(group=API_GROUP, version=API_VERSION, plural="routingprofiles")
PROVIDERS = ResourceKw(group=API_GROUP, version=API_VERSION, plural="llmproviders")
SECRETS = ResourceKw(group="", version="v1", plural="secrets")
SERVICES = ResourceKw(group="", version="v1", plural="services")


def snapshot(kwargs: dict[str, Any]) -> index.IndexView:
    """The indices kopf injects into every handler, under their registered ids."""
    return index.IndexView(
        profiles=kwargs["rp_entries"],
        dependencies=kwargs["rp_dependencies"],
        providers=kwargs["llmp_entries"],
        provider_secrets=kwargs["llmp_secrets"],
        secrets=kwargs["secret_keys"],
        provider_services=kwargs["llmp_services"],
        services=kwargs["service_ports"],
        client_keys=kwargs["client_keys"],
        claims=kwargs["rp_claims"],
    )


def _ctx(memo: Any) -> Context:
    if not isinstance(memo, Context):
        raise TypeError("the operator must run with a reconcile.Context as memo")
    return memo


async def _profiles_of_provider(
    ctx: Context, snap: index.IndexView, namespace: str, provider: str, force: bool = False
) -> None:
    await reconcile_provider(ctx, snap, namespace, provider)
    for profile in snap.profiles_using(namespace, provider):
        await reconcile_profile(ctx, snap, namespace, profile, force=force)


def build_registry(resync_seconds: float) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        """In-cluster ServiceAccount first, then $KUBECONFIG (set by ``--kubeconfig``)."""
        info: kopf.ConnectionInfo | None = kopf.login_with_service_account(**kwargs)
        return info or kopf.login_with_kubeconfig(**kwargs)

    def indexer(resource: ResourceKw, name: str, fn: Any) -> None:
        def handler(body: kopf.Body, **_: Any) -> Any:
            return fn(body)

        kopf.index(**resource, id=name, registry=registry)(handler)

    indexer(PROFILES, "rp_entries", index.profile_entry)
    indexer(PROFILES, "rp_dependencies", index.profile_dependencies)
    indexer(PROFILES, "rp_claims", index.profile_claims)
    indexer(PROVIDERS, "llmp_entries", index.provider_entry)
    indexer(PROVIDERS, "llmp_secrets", index.provider_secret)
    indexer(SECRETS, "secret_keys", index.secret_keys)
    indexer(PROVIDERS, "llmp_services", index.provider_service)
    indexer(SERVICES, "service_ports", index.service_ports)
    indexer(SECRETS, "client_keys", client_key_entry)

    @kopf.on.event(**PROFILES, registry=registry)
    async def profile_changed(
        type: str, body: kopf.Body, name: str, namespace: str | None, memo: Any, **kwargs: Any
    ) -> None:
        ctx, snap = _ctx(memo), snapshot(kwargs)
        if type == "DELETED":
            ctx.seen.pop(("rp", namespace or "", name), None)
            await forget_profile(ctx, namespace or "", name)
        elif ctx.seen.changed(("rp", namespace or "", name), body):
            await reconcile_profile(ctx, snap, namespace or "", name)
        # its rivals' standing may change with any event (new, gone, renamed models, first ConfigMap)
        gone = type == "DELETED"
        for rival in rivals_to_revisit(ctx, snap, body, gone=gone):
            await reconcile_profile(ctx, snap, rival.namespace, rival.name)
        await reconcile_client_keys(ctx, snap.all_client_keys(), snap.all_profiles())  # "unknown profile" or not

    @kopf.on.event(**PROVIDERS, registry=registry)
    async def provider_changed(
        type: str, body: kopf.Body, name: str, namespace: str | None, memo: Any, **kwargs: Any
    ) -> None:
        ctx = _ctx(memo)
        if type == "DELETED":
            ctx.seen.pop(("llmp", namespace or "", name), None)
        elif not ctx.seen.changed(("llmp", namespace or "", name), body):
            return  # a status write (the proxies' or ours): nothing the operator renders changed
        await _profiles_of_provider(ctx, snapshot(kwargs), namespace or "", name)

    @kopf.on.event(**SECRETS, registry=registry)
    async def secret_changed(name: str, namespace: str | None, memo: Any, **kwargs: Any) -> None:
        snap = snapshot(kwargs)
        await reconcile_client_keys(_ctx(memo), snap.all_client_keys(), snap.all_profiles())
        for provider in snap.providers_using_secret(namespace or "", name):
            # force: a rotated key changes no key name, so the render fingerprint cannot see it
            await _profiles_of_provider(_ctx(memo), snap, namespace or "", provider, force=True)

    @kopf.on.event(**SERVICES, registry=registry)
    async def service_changed(name: str, namespace: str | None, memo: Any, **kwargs: Any) -> None:
        snap = snapshot(kwargs)
        for provider in snap.providers_using_service(namespace or "", name):
            await _profiles_of_provider(_ctx(memo), snap, namespace or "", provider)

    @kopf.on.startup(registry=registry)
    async def start_resync(memo: Any, **kwargs: Any) -> None:
        """One periodic full re-check (not per-object timers: those force a finalizer on every object)."""
        ctx = _ctx(memo)
        ctx.background.add(asyncio.create_task(resync_forever(ctx, snapshot(kwargs), resync_seconds)))

    @kopf.on.cleanup(registry=registry)
    async def stop_resync(memo: Any, **_: Any) -> None:
        """Stop the resync and (``ctx.stopping``) the elector, which hands the Lease back."""
        ctx = _ctx(memo)
        for task in ctx.background:
            task.cancel()
        ctx.stopping.set()

    return registry
