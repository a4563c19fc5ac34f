"""Options of cluster mode, from flags with the Downward API environment as defaults."""

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from switchboard.api.egress import EGRESS_ENV, EgressPolicy, parse_egress
from switchboard.api.status import CREDENTIALS_SECRET

_SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    kubeconfig: str | None = None  # None: in-cluster service account
    namespaces: tuple[str, ...] = ()  # tenant namespaces whose profiles to serve; empty: all
    own_namespace: str = "default"  # the release namespace: rendered ConfigMaps and the credentials Secret
    replica: str = field(default_factory=socket.gethostname)
    pod_uid: str = ""  # the replica's Pod uid ($POD_UID), so Events on the Pod are tied to this Pod
    status_interval_s: float = 2.0  # at most one status write per object per replica per interval
    replica_ttl_s: float = 60.0  # status entries older than this are pruned
    heartbeat_s: float = 20.0  # rewrite an unchanged entry this often so peers see it live
    credentials_secret: str = CREDENTIALS_SECRET
    debounce_s: float = 0.01
    event_interval_s: float = 300.0  # at most one Event per object and reason per interval, per replica
    storm_threshold: int = 20  # retried attempts on one profile within storm_window_s make a FailoverStorm
    storm_window_s: float = 60.0
    egress: EgressPolicy = field(default_factory=EgressPolicy)  # strict unless the chart's ``egress`` says otherwise

    def __post_init__(self) -> None:
        if self.status_interval_s <= 0:
            raise ValueError("status interval must be positive")
        if self.event_interval_s < 0 or self.storm_threshold < 1 or self.storm_window_s <= 0:
            raise ValueError("event interval must not be negative; storm threshold and window must be positive")
        if not 0 < self.heartbeat_s < self.replica_ttl_s:
            raise ValueError("heartbeat must be positive and shorter than the replica TTL")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> "ClusterSettings":
        """Defaults from ``POD_NAME``/``POD_UID``/``POD_NAMESPACE`` (Downward API), then explicit overrides."""
        env = os.environ if environ is None else environ
        namespace = env.get("POD_NAMESPACE") or _read_service_account_namespace() or "default"
        values: dict[str, object] = {"own_namespace": namespace}
        if env.get("POD_NAME"):
            values["replica"] = env["POD_NAME"]
            values["pod_uid"] = env.get("POD_UID", "")
        if env.get(EGRESS_ENV):
            values["egress"] = parse_egress(env[EGRESS_ENV])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def _read_service_account_namespace() -> str | None:
    try:
        return _SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or None
    except OSError:
        return None
