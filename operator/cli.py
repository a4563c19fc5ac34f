"""``switchboard-operator``: watch LLMProviders and RoutingProfiles, render ConfigMaps.

Runs kopf programmatically (``kopf.operator``) beside a Lease elector: every
replica keeps its indices warm, only the Lease holder writes.
"""

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Sequence
from datetime import timedelta

import kopf

from switchboard.api.egress import EGRESS_ENV, parse_egress
from switchboard.api.kube_client import new_api_client
from switchboard.api.status import CREDENTIALS_SECRET
from switchboard.operator.events import OperatorEvents, RepeatWindow
from switchboard.operator.ha import LeaseElector
from switchboard.operator.handlers import build_registry
from switchboard.operator.kube import KubeClient
from switchboard.operator.logs import CappedBackoff, quiet_kopf
from switchboard.operator.probes import liveness_endpoint, register_probes
from switchboard.operator.reconcile import Context
from switchboard.operator.render import RenderSettings

logger = logging.getLogger("switchboard.operator")
_LOG_FORMATS = {
    "text": kopf.LogFormat.FULL,
    "json": kopf.LogFormat.JSON,
}  # kopf's JSON names the object a line is about


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="switchboard-operator", description=__doc__)
    p.add_argument("--namespace", action="append", default=[], help="watch this namespace (repeatable); default: all")
    p.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, then $KUBECONFIG)")
    p.add_argument(
        "--release-namespace",
        default=os.environ.get("SWITCHBOARD_RELEASE_NAMESPACE", "switchboard-system"),
        help="namespace of the rendered ConfigMaps, the credentials Secret and the leader Lease",
    )
    p.add_argument("--credentials-secret", default=CREDENTIALS_SECRET, help="Secret the proxies read API keys from")
    p.add_argument("--fleet-replicas", type=int, default=1, help="proxy replicas sharing fleet-wide rate limits")
    p.add_argument("--resync-seconds", type=float, default=60.0, help="period of the full re-check of every resource")
    p.add_argument("--lease-seconds", type=float, default=15.0, help="leader Lease duration")
    p.add_argument(
        "--replica-ttl-seconds",
        type=float,
        default=60.0,
        help="expire proxy replicas from status when they have not written for this long (the proxies' TTL)",
    )
    p.add_argument("--identity", default=f"{socket.gethostname()}-{os.getpid()}", help="this replica's Lease identity")
    p.add_argument(
        "--liveness-endpoint",
        type=liveness_endpoint,
        metavar="URL",
        help="serve health for Kubernetes probes at this URL, e.g. http://0.0.0.0:8080/healthz (default: off)",
    )
    p.add_argument(
        "--egress-policy",
        type=parse_egress,
        default=os.environ.get(EGRESS_ENV) or "{}",
        metavar="JSON",
        help=f"where provider baseUrls may point (an EgressPolicy; default ${EGRESS_ENV}, else the strict default)",
    )
    p.add_argument("--verbose", action="store_true")
    p.add_argument(
        "--log-format",
        default="text",
        choices=["text", "json"],
        help="text lines (default) or one JSON object per line",
    )
    return p.parse_args(argv)


def _settings() -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    settings.posting.enabled = False  # our own rate-limited events only
    settings.watching.server_timeout = 300
    settings.networking.request_timeout = 30
    settings.networking.error_backoffs = CappedBackoff()
    settings.watching.reconnect_backoff = 0.1
    return settings


async def run(args: argparse.Namespace, stop: asyncio.Event) -> None:
    api = await new_api_client(args.kubeconfig)
    elector = LeaseElector(api, args.release_namespace, args.identity, lease_seconds=args.lease_seconds)
    kube = KubeClient(api, args.release_namespace, args.credentials_secret)
    ctx = Context(
        kube=kube,
        events=OperatorEvents(kube, RepeatWindow()),
        settings=RenderSettings(
            fleet_replicas=args.fleet_replicas,
            credentials_secret=args.credentials_secret,
            config_namespace=args.release_namespace,
            egress=args.egress_policy,
        ),
        leadership=elector,
        namespaces=tuple(args.namespace),
        replica_ttl=timedelta(seconds=args.replica_ttl_seconds),
        stopping=stop,  # set by kopf's cleanup: kopf's signal handlers replace ours
    )
    registry = build_registry(args.resync_seconds)
    register_probes(registry)
    operator = kopf.operator(
        registry=registry,
        settings=_settings(),
        standalone=True,  # leadership comes from our Lease, not kopf peering
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        memo=ctx,
        stop_flag=stop,
        liveness_endpoint=args.liveness_endpoint,
    )
    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(elector.run(stop))
            tasks.create_task(operator)
    finally:
        await api.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig  # kopf's own login reads it
    kopf.configure(verbose=args.verbose, log_format=_LOG_FORMATS[args.log_format])
    quiet_kopf()
    # The generated client logs whole response bodies (Secret data included) at DEBUG.
    logging.getLogger("kubernetes_asyncio").setLevel(logging.INFO)
    logger.info("starting as %s, release namespace %s", args.identity, args.release_namespace)

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(args, stop)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
