"""The operator's health endpoint for Kubernetes probes (kopf's liveness endpoint).

kopf serves it once the operator has started and answers while its event loop
runs; the JSON body holds the results of the ``@kopf.on.probe`` handlers
registered here (refreshed at most every 10 seconds by kopf). Nothing in it
depends on leadership or on the API server being reachable: a standby replica,
or one waiting out an API server outage, is alive and restarting it would not help.
"""

import argparse
import urllib.parse
from typing import Any

import kopf

from switchboard.operator.reconcile import Context


def liveness_endpoint(value: str) -> str:
    """argparse type of ``--liveness-endpoint``: ``http://HOST:PORT/PATH``, explicit port and path."""
    parts = urllib.parse.urlsplit(value)
    problem = _endpoint_problem(parts)
    if problem:
        raise argparse.ArgumentTypeError(f"{value!r}: {problem} (expected http://HOST:PORT/PATH)")
    return value


def _endpoint_problem(parts: urllib.parse.SplitResult) -> str | None:
    if parts.scheme != "http":
        return "only http is served"
    if not parts.hostname:
        return "no host to listen on"
    try:
        port = parts.port
    except ValueError:
        return "invalid port"
    if port is None or port == 0:
        return "a fixed port is required, the probe must know it"
    if not parts.path.startswith("/") or parts.query or parts.fragment:
        return "a path without query or fragment is required"
    return None


def register_probes(registry: kopf.OperatorRegistry) -> None:
    """Add the probe handlers whose results the health endpoint reports."""

    @kopf.on.probe(id="leader", registry=registry)
    def leader(memo: Any, **_: Any) -> bool:
        """Whether this replica holds the Lease (informative; either way the replica is healthy)."""
        return isinstance(memo, Context) and memo.leadership.is_leader
