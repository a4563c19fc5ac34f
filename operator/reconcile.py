"""Reconcilers: glue the pure parts (render, conditions) to the Kubernetes shell.

Each reconcile is idempotent and cheap to repeat: the ConfigMap is written only
when its content hash changes and status only when what the operator owns in it
changes. Failures keep the last good ConfigMap and are reported as conditions
plus a (rate-limited) Event; the periodic resync retries them.
"""

import asyncio
import contextlib
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from kubernetes_asyncio import client
from pydantic import ValidationError

from switchboard.api.profile import LabelSelector
from switchboard.api.status import credential_key
from switchboard.api.timestamps import rfc3339
from switchboard.operator.cleanup import delete_rendered, sweep_orphans
from switchboard.operator.clientkeys import reconcile_client_keys
from switchboard.operator.conditions import merge, provider_verdicts
from switchboard.operator.conflicts import Claimant, claimant, to_revisit
from switchboard.operator.events import OperatorEvents
from switchboard.operator.index import Body, IndexView, SpecMemory
from switchboard.operator.kube import CredentialsSecretMissing, Kube, SourceKeyMissing, SourceNotAllowed
from switchboard.operator.liveness import expire_replicas
from switchboard.operator.render import Rendered, RenderInputs, RenderSettings, render
from switchboard.operator.selectors import matches
from switchboard.operator.verdicts import Problem, Verdict

logger = logging.getLogger(__name__)


class Leadership(Protocol):
    @property
    def is_leader(self) -> bool: ...


@dataclass
class Context:
    """Everything the handlers share, handed to kopf as its ``memo``."""

    kube: Kube
    events: OperatorEvents
    settings: RenderSettings
    leadership: Leadership
    locks: defaultdict[tuple[str, ...], asyncio.Lock] = field(default_factory=lambda: defaultdict(asyncio.Lock))
    fingerprints: dict[tuple[str, ...], str] = field(default_factory=dict)
    background: set[asyncio.Task[None]] = field(default_factory=set)
    # Set when kopf cleans up (its watchers are stopped): the Lease elector stops with it.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    namespaces: tuple[str, ...] = ()  # watched namespaces; empty: all
    seen: SpecMemory = field(default_factory=SpecMemory)  # filters out status-only events
    replica_ttl: timedelta = timedelta(seconds=60)  # proxies' status entries older than this are expired
    claimed: dict[tuple[str, str], Claimant] = field(default_factory=dict)  # each profile's claim when last seen
    delivered_keys: dict[str, str] | None = None  # namespace -> client keys document last written; None: unknown
    key_verdicts: dict[str, tuple[str, str]] = field(default_factory=dict)  # Secret uid -> (reason, message) told


def _now() -> str:
    return rfc3339(datetime.now(UTC))


def _fingerprint(inputs: RenderInputs) -> str:
    """Digest of everything a render depends on (Secret key names and opt-ins only, never values).

    The profile's own status counts (whether it has a ConfigMap decides what it shadows).
    """
    data = {
        "profile": {k: inputs.profile.get(k) for k in ("metadata", "spec")}
        | {"serving": claimant(inputs.profile).serving},
        "providers": {n: {k: p.get(k) for k in ("metadata", "spec")} for n, p in inputs.providers.items()},
        "secrets": {n: [sorted(f.keys), sorted(f.granted)] for n, f in inputs.secrets.items()},
        "services": {n: sorted(ports) for n, ports in inputs.services.items()},
        "rivals": [[c.key, str(c.creation_timestamp), c.models, c.serving] for c in inputs.rivals],
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


async def reconcile_profile(ctx: Context, snap: IndexView, namespace: str, name: str, force: bool = False) -> None:
    """Render one RoutingProfile, apply its ConfigMap, copy its keys, then apply the render's verdicts."""
    if not ctx.leadership.is_leader:
        return
    async with ctx.locks[("rp", namespace, name)]:
        profile = snap.profile(namespace, name)
        if profile is None:
            return  # deleted: ``forget_profile`` removes its ConfigMap
        inputs = snap.render_inputs(profile, ctx.settings)
        fingerprint = _fingerprint(inputs)
        if not force and ctx.fingerprints.get(("rp", namespace, name)) == fingerprint:
            return
        result = render(inputs)
        verdicts = result.verdicts
        problem = await _apply(ctx, snap, profile, result) if isinstance(result, Rendered) else None
        if problem is not None:
            verdicts = verdicts.apply_failed(problem)
        for notice in verdicts.events:
            await ctx.events.record(profile, notice.type, notice.reason, notice.message)
        await _write_status(ctx, "routingprofiles", profile, verdicts.status, verdicts.conditions)
        if problem is None:
            ctx.fingerprints[("rp", namespace, name)] = fingerprint
        else:
            ctx.fingerprints.pop(("rp", namespace, name), None)


def rivals_to_revisit(ctx: Context, snap: IndexView, body: Body, *, gone: bool) -> list[Claimant]:
    """The profiles whose conflict verdicts changed with ``body``'s claim (``conflicts.to_revisit``).

    A claim changes with the models, the first ConfigMap or the deletion; the proxies'
    frequent status writes change none of them and revisit nobody. A profile first seen
    (the operator's start: its indices are complete, so every profile's own render is
    right; later, a new profile has no ConfigMap yet and takes nothing) revisits nobody.
    """
    claim = claimant(body)
    key = (claim.namespace, claim.name)
    if gone:
        last = ctx.claimed.pop(key, None) or claim
        return to_revisit(last, None, snap.claimants(last.models))
    before = ctx.claimed.get(key)
    ctx.claimed[key] = claim
    if before is None or before == claim:
        return []
    return to_revisit(before, claim, snap.claimants((*before.models, *claim.models)))


async def forget_profile(ctx: Context, namespace: str, name: str) -> None:
    """A deleted RoutingProfile: remove its rendered ConfigMap from the release namespace."""
    if not ctx.leadership.is_leader:
        return  # the new leader's first resync sweeps it up
    async with ctx.locks[("rp", namespace, name)]:
        ctx.fingerprints.pop(("rp", namespace, name), None)
        try:
            await delete_rendered(ctx.kube, namespace, name)
        except client.ApiException as e:
            logger.warning("ConfigMap of deleted RoutingProfile %s/%s: %s %s", namespace, name, e.status, e.reason)


CONFLICT_ATTEMPTS = 3
"""Writes tried when the API server answers 409: another writer got in between our read and our write."""


async def _write(ctx: Context, snap: IndexView, namespace: str, result: Rendered) -> bool:
    """Copy the keys and write the ConfigMap; a 409 is benign (reads again and retries), never an ApplyFailed.

    Keys are copied under each provider's lock and only for providers the (live)
    index still holds: a render that started before a provider was deleted must
    not put back the key its deletion just removed.
    """
    async with contextlib.AsyncExitStack() as held:
        for provider in sorted(result.credentials):
            await held.enter_async_context(ctx.locks[("llmp", namespace, provider)])
        live = {p: ref for p, ref in result.credentials.items() if snap.provider(namespace, p) is not None}
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                await ctx.kube.copy_credentials(namespace, live)
                return await ctx.kube.apply_config_map(result.config_map)
            except client.ApiException as e:
                if e.status != 409 or attempt == CONFLICT_ATTEMPTS:
                    raise
                logger.debug("write conflict for %s (attempt %d); reading again", namespace, attempt)
    raise AssertionError("unreachable: the last attempt returns or raises")


async def _apply(ctx: Context, snap: IndexView, profile: Body, result: Rendered) -> Problem | None:
    """Write the render; a Normal Event when the ConfigMap changed, else why it could not be written."""
    namespace = profile["metadata"]["namespace"]
    try:
        written = await _write(ctx, snap, namespace, result)
    except SourceNotAllowed as e:
        return Problem("SecretNotAllowed", str(e))
    except SourceKeyMissing as e:
        return Problem("SecretNotFound", str(e))
    except CredentialsSecretMissing as e:
        return Problem("CredentialsSecretMissing", str(e))
    except client.ApiException as e:
        return Problem("ApplyFailed", f"writing to the API server failed: {e.status} {e.reason}")
    if written:
        cm = "{namespace}/{name}".format(**result.config_map["metadata"])
        message = f"ConfigMap {cm} written (hash {result.config_hash[:12]}, {len(result.providers)} providers)"
        await ctx.events.record(profile, "Normal", "Rendered", message)
    return None


async def reconcile_provider(ctx: Context, snap: IndexView, namespace: str, name: str) -> None:
    """Report an LLMProvider's own conditions (valid spec, API key Secret present)."""
    if not ctx.leadership.is_leader:
        return
    async with ctx.locks[("llmp", namespace, name)]:
        provider = snap.provider(namespace, name)
        if provider is None or not (provider.get("spec") or {}).get("apiKeySecretRef"):
            await _forget_credential(ctx, namespace, name)
        if provider is None:
            return
        users = profile_users(snap, provider)
        secrets, services = snap.secrets_in(namespace), snap.services_in(namespace)
        verdicts = provider_verdicts(provider, secrets, users, ctx.settings.egress, services)
        if verdicts[0].status != "True":
            await ctx.events.record(provider, "Warning", verdicts[0].reason, verdicts[0].message)
        if verdicts[0].reason == "SecretNotAllowed":  # an opt-in withdrawn: the copy goes too
            await _forget_credential(ctx, namespace, name)
        status = {"observedGeneration": provider["metadata"].get("generation")}
        await _write_status(ctx, "llmproviders", provider, status, verdicts)


async def _forget_credential(ctx: Context, namespace: str, name: str) -> None:
    """A deleted provider, or one without an API key, leaves nothing in the credentials Secret."""
    try:
        await ctx.kube.remove_credential(credential_key(namespace, name))
    except client.ApiException as e:
        logger.warning("credentials Secret: could not remove %s.%s: %s %s", namespace, name, e.status, e.reason)


def profile_users(snap: IndexView, provider: Body) -> list[str]:
    """Profiles naming the provider or selecting it by label."""
    meta = provider["metadata"]
    users = []
    for name in snap.profiles_using(meta["namespace"], meta["name"]):
        profile = snap.profile(meta["namespace"], name) or {}
        spec = profile.get("spec") or {}
        if any(isinstance(r, dict) and r.get("name") == meta["name"] for r in spec.get("providers") or []):
            users.append(name)
            continue
        try:
            selector = LabelSelector.model_validate(spec.get("providerSelector") or {})
        except ValidationError:
            continue
        if spec.get("providerSelector") is not None and matches(selector, meta.get("labels") or {}):
            users.append(name)
    return users


async def _write_status(
    ctx: Context, plural: str, body: Body, fields: Mapping[str, Any], verdicts: Sequence[Verdict]
) -> None:
    """Merge-patch the operator-owned status fields, only if they change."""
    meta = body["metadata"]
    current = body.get("status") or {}
    conditions = merge(current.get("conditions") or [], verdicts, meta.get("generation"), _now())
    wanted = {**fields, "conditions": conditions}
    if all(current.get(k) == v for k, v in wanted.items()):
        return
    try:
        await ctx.kube.patch_status(plural, meta["namespace"], meta["name"], wanted)
    except client.ApiException as e:
        if e.status != 404:  # 404: deleted meanwhile
            logger.warning("status of %s %s/%s: %s %s", plural, meta["namespace"], meta["name"], e.status, e.reason)


async def resync_forever(ctx: Context, snap: IndexView, period: float) -> None:
    """Re-check everything every ``period`` seconds and at once on becoming leader.

    Repairs drift (a hand-deleted ConfigMap), retries failed writes and lets a new
    leader catch up with what happened while it was standing by.
    """
    loop = asyncio.get_running_loop()
    was_leader, last = False, 0.0
    while True:
        await asyncio.sleep(min(period, 1.0))
        leader = ctx.leadership.is_leader
        if leader and (not was_leader or loop.time() - last >= period):
            last = loop.time()
            await resync_once(ctx, snap)
        was_leader = leader


async def resync_once(ctx: Context, snap: IndexView) -> None:
    try:
        await sweep_orphans(ctx.kube, snap, ctx.namespaces)
    except Exception:
        logger.exception("sweep of orphaned rendered ConfigMaps failed")
    try:
        await expire_replicas(ctx.kube, snap, ctx.replica_ttl)
    except Exception:
        logger.exception("expiry of stale replica entries failed")
    for namespace, name in snap.all_profiles():
        try:
            await reconcile_profile(ctx, snap, namespace, name, force=True)
        except Exception:  # one bad object must not stop the resync of the others
            logger.exception("resync of RoutingProfile %s/%s failed", namespace, name)
    for namespace, name in snap.all_providers():
        try:
            await reconcile_provider(ctx, snap, namespace, name)
        except Exception:
            logger.exception("resync of LLMProvider %s/%s failed", namespace, name)
    try:
        ctx.delivered_keys = None  # compare with the Secret again: repairs a hand-edited credentials Secret
        await reconcile_client_keys(ctx, snap.all_client_keys(), snap.all_profiles())
    except Exception:
        logger.exception("resync of client keys failed")
