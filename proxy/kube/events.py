"""Warning Events on the objects a replica cannot use (best effort, never raises)."""

import logging
from datetime import UTC, datetime
from typing import Any

from switchboard.proxy.kube.rendered import ObjectRef

log = logging.getLogger(__name__)

COMPONENT = "switchboard-proxy"


class EventRecorder:
    """Posts core/v1 Events through a ``CoreV1Api``; failures are logged, not raised."""

    def __init__(self, core_api: Any, replica: str) -> None:
        self._core = core_api
        self._replica = replica

    async def warn(self, kind: str, ref: ObjectRef, reason: str, message: str) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{ref.name}.", "namespace": ref.namespace},
            "involvedObject": {"apiVersion": "v1", "kind": kind, "namespace": ref.namespace, "name": ref.name},
            "type": "Warning",
            "reason": reason,
            "message": message[:1024],
            "source": {"component": COMPONENT, "host": self._replica},
            "reportingComponent": COMPONENT,
            "reportingInstance": self._replica,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self._core.create_namespaced_event(ref.namespace, body)
        except Exception as e:  # an Event is a courtesy: never let it break the sync loop
            log.warning("could not record %s event on %s %s: %s", reason, kind, ref, e)
