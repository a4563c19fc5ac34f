"""The core/v1 Event both sides post: the operator about what it rendered or refused, each proxy
replica about what it sees (circuits, failover storms, ConfigMaps it refused).

``kubectl describe`` finds an object's Events by kind, name and uid, so Events on
custom resources carry the uid. Each side keeps its own rate limiting.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from switchboard.api.timestamps import rfc3339

EventType = Literal["Normal", "Warning"]
MESSAGE_MAX = 1024


@dataclass(frozen=True, slots=True)
class InvolvedObject:
    """The object an Event is about."""

    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str = ""

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> "InvolvedObject":
        """From a resource body as the API server returns it."""
        meta = obj["metadata"]
        return cls(obj.get("apiVersion", ""), obj.get("kind", ""), meta["namespace"], meta["name"], meta.get("uid", ""))


def event_manifest(
    involved: InvolvedObject,
    type_: EventType,
    reason: str,
    message: str,
    *,
    component: str,
    now: datetime,
    instance: str | None = None,
) -> dict[str, Any]:
    """A core/v1 Event (pure: the time comes in). ``instance`` is the posting replica, when there are several."""
    stamp = rfc3339(now)
    target = {
        "apiVersion": involved.api_version,
        "kind": involved.kind,
        "namespace": involved.namespace,
        "name": involved.name,
    }
    host = {"host": instance} if instance else {}
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{involved.name}.", "namespace": involved.namespace},
        "involvedObject": {**target, **({"uid": involved.uid} if involved.uid else {})},
        "type": type_,
        "reason": reason,
        "message": message[:MESSAGE_MAX],
        "source": {"component": component, **host},
        "reportingComponent": component,
        **({"reportingInstance": instance} if instance else {}),
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
