"""What the fleet's store would decide for ``/v1/routing/explain``, read without charging or binding.

With a state store the router leaves provider and profile limits and session
bindings to the fleet limiter, so the router's own explanation cannot show
them; this asks the store the same question as admission does, dry.
"""

from dataclasses import replace
from datetime import UTC, datetime

from aiohttp import web

from switchboard.api.config import ProxyConfig
from switchboard.proxy.fleet.admission import FLEET_LIMITED, profile_slots
from switchboard.proxy.fleet.buckets import decide
from switchboard.proxy.fleet.http import FLEET, client_limit, refusal_message
from switchboard.proxy.http.app_keys import STATE
from switchboard.proxy.routing.decision import Explanation, RankedCandidate
from switchboard.proxy.routing.types import RouteRequest


async def with_fleet_state(
    request: web.Request, explanation: Explanation, route: RouteRequest, config: ProxyConfig
) -> Explanation:
    """``explanation`` with the providers over a fleet-wide limit excluded, the session's provider first,
    and a profile or client limit or budget that would refuse the request in ``blocked``.

    Unchanged without a store, or while it does not answer (the replica then decides alone, 1/N).
    """
    store = request.app[FLEET].store
    profile = next((p for p in config.profiles if p.key == explanation.profile), None)
    if store is None or profile is None:
        return explanation
    providers = {p.key: p for p in config.providers}
    order = dict.fromkeys(c.provider for c in (*explanation.ranked, *explanation.fallbacks) if c.provider in providers)
    slots = profile_slots(
        profile,
        [providers[key] for key in order],
        route,
        client_limit(request[STATE].client),
        shared=True,
        now=datetime.now(UTC),
    )
    if slots.empty:
        return explanation
    reply = await store.reserve(slots, dry=True)
    if reply is None:
        return explanation
    verdict = decide(slots, reply.levels, reply.spent, bound=reply.bound)
    limited = {p for p, _ in slots.candidates} - verdict.admitting

    def keep(candidates: tuple[RankedCandidate, ...]) -> tuple[RankedCandidate, ...]:
        return tuple(c for c in candidates if c.provider not in limited)

    ranked = keep(explanation.ranked)
    if verdict.bound is not None and verdict.bound not in limited:
        ranked = (
            *(c for c in ranked if c.provider == verdict.bound),
            *(c for c in ranked if c.provider != verdict.bound),
        )
    blocked = verdict.budget_refusal()
    if blocked is None:
        blocked = explanation.blocked if verdict.admitted else refusal_message(verdict, profile.key, route)
    return replace(
        explanation,
        ranked=ranked,
        fallbacks=keep(explanation.fallbacks),
        excluded={**explanation.excluded, **dict.fromkeys(sorted(limited), FLEET_LIMITED)},
        blocked=blocked,
    )
