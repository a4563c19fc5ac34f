"""Cluster mode: follow the EndpointSlices of every Service a provider names.

A list+watch (the shared ``Informer``) of the slices carrying the
``kubernetes.io/service-name`` label, in the watched namespaces or all of them.
Every change hands the whole cache to ``on_slices`` (the runtime's
``follow_slices``), which recomputes the pools: endpoints that appear, turn
not-ready or disappear are followed as soon as the API server tells.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kubernetes_asyncio import client

from switchboard.proxy.endpoints.slices import SERVICE_NAME_LABEL
from switchboard.proxy.kube.informer import Backoff, Collection, Informer

SliceSink = Callable[[list[Mapping[str, Any]]], None]


class SliceFollower:
    """The informers of the slices, merged into one view for ``on_slices``."""

    def __init__(self, on_slices: SliceSink) -> None:
        self._on_slices = on_slices
        self.informers: list[Informer] = []

    def start(self, api: client.ApiClient, namespaces: Sequence[str], backoff: Backoff) -> list[Informer]:
        """Build the informers (run each one's ``run()`` as a task)."""
        discovery = client.DiscoveryV1Api(api)
        selector = {"label_selector": SERVICE_NAME_LABEL}
        if namespaces:
            collections = [
                Collection(f"EndpointSlices in {ns}", discovery.list_namespaced_endpoint_slice, (ns,), selector)
                for ns in namespaces
            ]
        else:
            collections = [
                Collection(
                    "EndpointSlices (all namespaces)", discovery.list_endpoint_slice_for_all_namespaces, (), selector
                )
            ]
        self.informers = [Informer(c, self._changed, backoff) for c in collections]
        return self.informers

    def _changed(self) -> None:
        self._on_slices([obj for informer in self.informers for obj in informer.objects.values()])
