"""The production router and adapters, the defaults of ``AppOptions``."""

from switchboard.api.config import ProxyConfig
from switchboard.proxy.adapters.base import Adapter
from switchboard.proxy.adapters.registry import get_adapter
from switchboard.proxy.router_port import RouterPort
from switchboard.proxy.routing.router import Router


def default_router_factory(config: ProxyConfig) -> RouterPort:
    return Router(config)


def default_adapter_lookup(provider_type: str) -> Adapter:
    return get_adapter(provider_type)
