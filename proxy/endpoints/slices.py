"""Pure translation of EndpointSlice objects into the addresses a provider calls.

Follows kube-proxy's reading of a slice: endpoints are grouped by the
``kubernetes.io/service-name`` label, a missing ``ready`` condition means ready,
a Service port is found in a slice by its name (the number there is the target
port), and FQDN slices are ignored.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from switchboard.api.object_key import object_key
from switchboard.api.provider import ProviderConfig
from switchboard.proxy.endpoints.pool import Address

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
Slice = Mapping[str, Any]


def by_service(slices: Iterable[Slice]) -> dict[str, list[Slice]]:
    """Slices grouped by ``namespace/service``; slices without the service label are left out."""
    grouped: dict[str, list[Slice]] = {}
    for item in slices:
        meta = item.get("metadata") or {}
        name = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if isinstance(name, str) and name:
            grouped.setdefault(object_key(meta.get("namespace"), name), []).append(item)
    return grouped


def port_matcher(provider: ProviderConfig) -> tuple[str | None, int | None]:
    """(port name, port number) to look for in the slices: a name when known, else the number."""
    service = provider.service
    assert service is not None
    if provider.service_port_name is not None:
        return provider.service_port_name, None
    if isinstance(service.port, str):
        return service.port, None
    return None, service.port


def addresses(slices: Sequence[Slice], port_name: str | None, port_number: int | None) -> list[Address]:
    """Every endpoint address of the slices at the wanted port, deduplicated (first seen wins)."""
    found: dict[str, Address] = {}
    for item in slices:
        if item.get("addressType") not in ("IPv4", "IPv6"):
            continue
        port = _slice_port(item.get("ports") or [], port_name, port_number)
        if port is None:
            continue
        for endpoint in item.get("endpoints") or []:
            conditions = endpoint.get("conditions") or {}
            ready = conditions.get("ready") is not False
            terminating = conditions.get("terminating") is True
            for ip in endpoint.get("addresses") or []:
                address = Address(str(ip), port, ready=ready and not terminating, terminating=terminating)
                found.setdefault(address.key, address)
    return list(found.values())


def _slice_port(ports: Sequence[Mapping[str, Any]], name: str | None, number: int | None) -> int | None:
    for port in ports:
        if (port.get("protocol") or "TCP") != "TCP" or not isinstance(port.get("port"), int):
            continue
        if name is not None and (port.get("name") or "") == name:
            return int(port["port"])
        if name is None and port["port"] == number:
            return number
    return None
