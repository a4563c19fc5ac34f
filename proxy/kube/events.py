"""Events on the objects a replica has news about (best effort, never raises).

``kubectl describe`` finds an object's Events by kind, name and uid, so
Events on custom resources carry the uid (looked up by the caller).
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from switchboard.proxy.kube.event_rules import EventType
from switchboard.proxy.kube.rendered import ObjectRef

log = logging.getLogger(__name__)

COMPONENT = "switchboard-proxy"


@dataclass(frozen=True, slots=True)
class Involved:
    """The object an Event is about."""

    api_version: str
    kind: str
    ref: ObjectRef
    uid: str = ""


def event_body(involved: Involved, type_: EventType, reason: str, message: str, replica: str) -> dict[str, Any]:
    """A core/v1 Event (pure; the timestamp is the only input from outside)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ref = involved.ref
    target = {"apiVersion": involved.api_version, "kind": involved.kind, "namespace": ref.namespace, "name": ref.name}
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{ref.name}.", "namespace": ref.namespace},
        "involvedObject": {**target, **({"uid": involved.uid} if involved.uid else {})},
        "type": type_,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": COMPONENT, "host": replica},
        "reportingComponent": COMPONENT,
        "reportingInstance": replica,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


class EventPoster:
    """Posts core/v1 Events through a ``CoreV1Api``; failures are logged, not raised."""

    def __init__(self, core_api: Any, replica: str) -> None:
        self._core = core_api
        self._replica = replica

    async def warn(self, kind: str, ref: ObjectRef, reason: str, message: str) -> None:
        """A Warning on a core/v1 object (a ConfigMap this replica refused)."""
        await self.post(Involved("v1", kind, ref), "Warning", reason, message)

    async def post(self, involved: Involved, type_: EventType, reason: str, message: str) -> None:
        body = event_body(involved, type_, reason, message, self._replica)
        try:
            await self._core.create_namespaced_event(involved.ref.namespace, body)
        except Exception as e:  # an Event is a courtesy: never let it break the caller's loop
            log.warning("could not record %s event on %s %s: %s", reason, involved.kind, involved.ref, e)
