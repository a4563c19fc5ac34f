"""Posts this replica's Events (best effort, never raises); the manifest is ``switchboard.api.events``."""

import logging
from datetime import UTC, datetime
from typing import Any

from switchboard.api.events import EventType, InvolvedObject, event_manifest
from switchboard.proxy.kube.rendered import ObjectRef

log = logging.getLogger(__name__)

COMPONENT = "switchboard-proxy"


class EventPoster:
    """Posts core/v1 Events through a ``CoreV1Api``; failures are logged, not raised."""

    def __init__(self, core_api: Any, replica: str) -> None:
        self._core = core_api
        self._replica = replica

    async def warn(self, kind: str, ref: ObjectRef, reason: str, message: str) -> None:
        """A Warning on a core/v1 object (a ConfigMap this replica refused)."""
        await self.post(InvolvedObject("v1", kind, ref.namespace, ref.name), "Warning", reason, message)

    async def post(self, involved: InvolvedObject, type_: EventType, reason: str, message: str) -> None:
        now = datetime.now(UTC)
        body = event_manifest(involved, type_, reason, message, component=COMPONENT, now=now, instance=self._replica)
        try:
            await self._core.create_namespaced_event(involved.namespace, body)
        except Exception as e:  # an Event is a courtesy: never let it break the caller's loop
            where = f"{involved.kind} {involved.namespace}/{involved.name}"
            log.warning("could not record %s event on %s: %s", reason, where, e)
