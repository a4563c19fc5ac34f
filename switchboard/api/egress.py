"""Where a provider's ``baseUrl`` may point: the cluster's egress policy (server-side request forgery).

Whoever may create an LLMProvider chooses its ``baseUrl``, and the proxy connects
there from its own network position, with a key, and relays the answer. So by
default a provider may not reach loopback, link-local (cloud metadata at
169.254.169.254), unspecified addresses, the cluster's API server, the
``deniedCIDRs`` the platform team lists (its Service and Pod ranges, say), or an
in-cluster Service of another namespace; ``allow`` entries open hosts or CIDRs
again per namespace. The operator checks what it can see in the URL (reported
as a condition); the proxy checks every address after DNS resolution, at
connect time, so a name that resolves somewhere forbidden is refused too.
"""

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator

from switchboard.api.base import Model
from switchboard.api.config import format_validation_error

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
EGRESS_ENV = "SWITCHBOARD_EGRESS_POLICY"  # JSON of an EgressPolicy: the chart value ``egress``, for both components
_API_SERVER_NAMES = ("kubernetes", "kubernetes.default", "kubernetes.default.svc")


class EgressAllow(Model):
    """Targets one namespace's (or every namespace's, ``*``) providers may reach despite the denials."""

    namespace: str = Field(min_length=1, description="Namespace of the LLMProviders, or `*` for all.")
    hosts: tuple[str, ...] = Field((), description="Host names, exact or `*.suffix`.")
    cidrs: tuple[str, ...] = Field((), description="Address ranges, e.g. `10.1.0.0/16`.")

    @field_validator("cidrs")
    @classmethod
    def _valid_cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
        return value

    def covers_host(self, host: str) -> bool:
        return any(host == h or (h.startswith("*.") and host.endswith(h[1:])) for h in self.hosts)

    def covers_address(self, address: Address) -> bool:
        return any(address in ipaddress.ip_network(cidr, strict=False) for cidr in self.cidrs)


class EgressPolicy(Model):
    """The cluster's egress policy for provider base URLs (chart value ``egress``)."""

    allow_loopback: bool = Field(False, description="Let providers reach 127.0.0.0/8 and ::1 (local demos only).")
    allow_link_local: bool = Field(False, description="Let providers reach 169.254.0.0/16 and fe80::/10.")
    denied_cidrs: tuple[str, ...] = Field(
        (),
        alias="deniedCIDRs",
        description="More ranges no provider may reach (the API server, Pod and Service ranges).",
    )
    allow: tuple[EgressAllow, ...] = Field((), description="Exceptions per namespace.")

    @field_validator("denied_cidrs")
    @classmethod
    def _valid_cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
        return value

    def _allowances(self, namespace: str) -> Iterable[EgressAllow]:
        return (a for a in self.allow if a.namespace in ("*", namespace))

    def check_host(self, namespace: str, host: str) -> str | None:
        """Why ``host`` (as written in a URL) is refused for a provider of ``namespace``, or None."""
        host = host.lower().rstrip(".")
        if any(a.covers_host(host) for a in self._allowances(namespace)):
            return None
        try:
            return self.check_address(namespace, ipaddress.ip_address(host), host)
        except ValueError:
            pass
        if host == "localhost" or host.endswith(".localhost"):
            return None if self.allow_loopback else f"{host} is loopback"
        if host in _API_SERVER_NAMES or host.startswith("kubernetes.default.svc."):
            return f"{host} is the cluster's API server"
        labels = host.split(".")
        if len(labels) >= 3 and labels[2] == "svc" and labels[1] != namespace:
            return f"{host} is a Service of namespace {labels[1]!r}, not of {namespace!r}"
        return None

    def check_address(self, namespace: str, address: Address, host: str = "") -> str | None:
        """Why connecting to ``address`` is refused for a provider of ``namespace``, or None."""
        target = f"{host} ({address})" if host and host != str(address) else str(address)
        allowances = list(self._allowances(namespace))
        if any(a.covers_address(address) or (host and a.covers_host(host)) for a in allowances):
            return None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return self.check_address(namespace, address.ipv4_mapped, host)
        if address.is_unspecified:
            return f"{target} is the unspecified address"
        if address.is_loopback and not self.allow_loopback:
            return f"{target} is loopback"
        if address.is_link_local and not self.allow_link_local:
            return f"{target} is link-local (cloud metadata lives there)"
        for cidr in self.denied_cidrs:
            if address in ipaddress.ip_network(cidr, strict=False):
                return f"{target} is in the denied range {cidr}"
        return None

    def check_url(self, namespace: str, url: str) -> str | None:
        """The static part of the check, on a provider's base URL (no DNS)."""
        host = urlsplit(url).hostname
        if not host:
            return f"{url!r} has no host"
        return self.check_host(namespace, host)


def parse_egress(text: str) -> EgressPolicy:
    """An EgressPolicy from JSON (``{}`` is the strict default); ValueError names the field."""
    try:
        return EgressPolicy.model_validate_json(text)
    except ValidationError as e:
        raise ValueError(f"egress policy: {format_validation_error(e)}") from None
