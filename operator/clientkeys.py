"""Team client keys: validate every labelled Secret, deliver digests to the proxies, tell the team.

The decision is ``switchboard.api.clientkeys.plan`` (pure); this is its shell:
index what the Secrets hold (digests only), write each namespace's keys document
into the credentials Secret, and post one Event per Secret whenever its verdict
changes (accepted, or why not). Any Secret or RoutingProfile event and the
periodic resync run it; it recomputes the whole plan, which is cheap, because a
key in one namespace can decide another's (the same key registered twice).
"""

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from kubernetes_asyncio import client

from switchboard.api.clientkeys import CLIENT_KEY_LABEL, ClientKeySecret, Verdict, plan, read_secret
from switchboard.operator.kube import CredentialsSecretMissing

if TYPE_CHECKING:
    from switchboard.operator.reconcile import Context

logger = logging.getLogger(__name__)
LOCK = ("clientkeys",)


def client_key_entry(body: Mapping[str, Any]) -> dict[str, ClientKeySecret]:
    """Index function: namespace -> what a labelled Secret holds (its digest, never the key); {} for the rest."""
    labels = (body.get("metadata") or {}).get("labels") or {}
    if labels.get(CLIENT_KEY_LABEL) != "true":
        return {}
    secret = read_secret(body)
    return {secret.namespace: secret}


def profile_names(profiles: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """namespace -> names of its RoutingProfiles."""
    names: dict[str, set[str]] = {}
    for namespace, name in profiles:
        names.setdefault(namespace, set()).add(name)
    return names


async def reconcile_client_keys(
    ctx: "Context", secrets: Iterable[ClientKeySecret], profiles: Iterable[tuple[str, str]]
) -> None:
    """Deliver the keys ``plan`` accepts and post the Events of changed verdicts (the leader only)."""
    if not ctx.leadership.is_leader:
        return
    async with ctx.locks[LOCK]:
        result = plan(secrets, profile_names(profiles))
        if dict(result.documents) != ctx.delivered_keys:
            try:
                await ctx.kube.deliver_client_keys(result.documents, ctx.namespaces)
            except CredentialsSecretMissing as e:
                logger.warning("client keys not delivered: %s", e)
                return
            except client.ApiException as e:
                logger.warning("client keys not delivered: %s %s (retried on resync)", e.status, e.reason)
                return
            ctx.delivered_keys = dict(result.documents)
        await _announce(ctx, result.verdicts)


async def _announce(ctx: "Context", verdicts: Iterable[Verdict]) -> None:
    """One Event per Secret whose verdict is new (by uid: a re-created Secret is told again)."""
    current: dict[str, tuple[str, str]] = {}
    for verdict in verdicts:
        uid = verdict.secret.uid
        current[uid] = (verdict.reason, verdict.message)
        if ctx.key_verdicts.get(uid) != current[uid]:
            await ctx.events.record(verdict.secret.event_object(), verdict.type, verdict.reason, verdict.message)
    ctx.key_verdicts = current
