"""The proxy's ConfigSource for ``--kubernetes`` (see ``switchboard.proxy.config_source``).

``create_source(options)`` is what the proxy CLI calls. Options come from the
parsed CLI flags when present (``kubeconfig``, ``watch_namespaces``,
``status_interval``, ``replica_name``), else from the environment:
``SWITCHBOARD_KUBECONFIG`` (or ``KUBECONFIG``), ``SWITCHBOARD_WATCH_NAMESPACES``
(comma separated), ``SWITCHBOARD_STATUS_INTERVAL``, ``SWITCHBOARD_REPLICA_TTL``,
``POD_NAME``, ``POD_NAMESPACE``. No kubeconfig means in-cluster.
"""

import argparse
import logging
import os
from collections.abc import Callable, Mapping

from switchboard.api.egress import EgressPolicy
from switchboard.api.provider import ProviderConfig, SecretKeyRef
from switchboard.proxy.auth import KeyStore
from switchboard.proxy.credentials import SecretResolver
from switchboard.proxy.kube.connection import ApiConnection
from switchboard.proxy.kube.credentials import CredentialStore
from switchboard.proxy.kube.run import ClusterMode
from switchboard.proxy.kube.settings import ClusterSettings
from switchboard.proxy.kube.team_keys import TeamKeys
from switchboard.proxy.runtime import Runtime

log = logging.getLogger(__name__)


class KubernetesSource:
    """Watches rendered ConfigMaps and the credentials Secret; publishes status."""

    def __init__(self, settings: ClusterSettings) -> None:
        self.settings = settings
        self.credentials = CredentialStore(settings.credentials_secret)
        self.team_keys = TeamKeys()
        self.connection = ApiConnection()

    @property
    def egress(self) -> EgressPolicy:
        return self.settings.egress

    def status(self) -> Mapping[str, object]:
        """For ``/readyz``: the API server connection and the config's age."""
        return {"kind": "kubernetes", **self.connection.detail()}

    @property
    def client_keys(self) -> Callable[[], KeyStore]:
        """The team keys the operator delivered (with client auth on, next to the keys file's)."""
        return self.team_keys.current

    @property
    def secrets(self) -> SecretResolver:
        return self._resolve

    async def _resolve(self, provider: ProviderConfig, ref: SecretKeyRef) -> str:
        return self.credentials.resolve(provider, ref)

    async def run(self, runtime: Runtime) -> None:
        with runtime.metrics.collecting(self.connection.collector()):
            async with ClusterMode(
                runtime,
                self.settings,
                self.credentials,
                connection=self.connection,
                follow_endpoint_slices=True,
                team_keys=self.team_keys,
            ) as mode:
                log.info(
                    "cluster mode: replica %s, namespaces %s, credentials %s/%s",
                    self.settings.replica,
                    ",".join(self.settings.namespaces or ()) or "all",
                    self.settings.own_namespace,
                    self.settings.credentials_secret,
                )
                await mode.wait()


def settings_from_options(options: object, environ: Mapping[str, str] | None = None) -> ClusterSettings:
    """Flags first, then environment variables, then defaults (see the module docstring)."""
    env = os.environ if environ is None else environ
    kubeconfig = getattr(options, "kubeconfig", None) or env.get("SWITCHBOARD_KUBECONFIG") or env.get("KUBECONFIG")
    namespaces = getattr(options, "watch_namespaces", None) or _split(env.get("SWITCHBOARD_WATCH_NAMESPACES", ""))
    interval = getattr(options, "status_interval", None) or _number(env, "SWITCHBOARD_STATUS_INTERVAL")
    ttl = _number(env, "SWITCHBOARD_REPLICA_TTL")
    overrides: dict[str, object] = {
        "kubeconfig": kubeconfig,
        "namespaces": tuple(namespaces) or None,
        "status_interval_s": interval,
        "replica": getattr(options, "replica_name", None),
    }
    if ttl is not None:
        overrides.update(replica_ttl_s=ttl, heartbeat_s=ttl / 3)
    return ClusterSettings.from_env(env, **overrides)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Cluster-mode flags, for the proxy CLI's parser (all optional; env vars are the fallback)."""
    group = parser.add_argument_group("cluster mode (--kubernetes)")
    group.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster service account)")
    group.add_argument(
        "--watch-namespace",
        dest="watch_namespaces",
        action="append",
        metavar="NS",
        help="serve only the RoutingProfiles of this namespace; repeatable (default: all namespaces)",
    )
    group.add_argument("--status-interval", type=float, metavar="SECONDS", help="min seconds between status writes")
    group.add_argument("--replica-name", help="this replica's name in status (default: $POD_NAME or hostname)")


def create_source(options: object) -> KubernetesSource:
    """The CLI hook for ``switchboard-proxy --kubernetes``."""
    return KubernetesSource(settings_from_options(options))


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _number(env: Mapping[str, str], name: str) -> float | None:
    raw = env.get(name)
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}: expected a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name}: must be positive, got {raw!r}")
    return value
